"""The local runner: the four services (and a Toxiproxy-compatible server) as local processes."""
