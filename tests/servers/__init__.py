"""Real third-party model servers (MLflow, MLServer) and loopback servers for contract tests,
each bound to 127.0.0.1, started and stopped by the test that uses it."""
