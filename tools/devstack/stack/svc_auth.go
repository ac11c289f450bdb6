package stack

// authService builds the auth service on env, or returns nil while the
// service does not exist yet.
func authService(env *Env) (*runner, error) {
	return nil, nil
}
