"""The gateway simulator, its simulate_gateway command, and the demo commands built on it."""
