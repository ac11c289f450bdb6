package stack

// notifierService builds the notifier service on env, or returns nil while the
// service does not exist yet.
func notifierService(env *Env) (*runner, error) {
	return nil, nil
}
