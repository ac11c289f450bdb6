package stack

// gatewayService builds the gateway service on env, or returns nil while the
// service does not exist yet.
func gatewayService(env *Env) (*runner, error) {
	return nil, nil
}
