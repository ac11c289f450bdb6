package stack

// chainwatcherService builds the chainwatcher service on env, or returns nil while the
// service does not exist yet.
func chainwatcherService(env *Env) (*runner, error) {
	return nil, nil
}
