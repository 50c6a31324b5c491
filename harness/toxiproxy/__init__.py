"""A Toxiproxy-2.x-API-compatible TCP fault proxy, written on stdlib asyncio.

The real Go binary cannot be installed from the registries these machines reach, so the harness
ships this server. Clients (toxiproxy-python, the Go and Node clients, toxiproxy-cli) must not be
able to tell the difference for the features in `docs/toxiproxy-api.md`; on top of that the
`--seed` flag is real: the same seed gives the same toxicity rolls and jitter.
"""

VERSION = "2.12.0"  # the upstream release whose API we match; clients sometimes log it
