"""Where the system under test runs: local processes (harness.runner) or Docker Compose (compose)."""
