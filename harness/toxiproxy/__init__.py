"""A Toxiproxy-2.x-API-compatible TCP fault proxy on stdlib asyncio, and the port to any Toxiproxy.

The real Go binary cannot be installed from the registries these machines reach, so the harness
ships this server. Clients (toxiproxy-python, the Go and Node clients, toxiproxy-cli) must not be
able to tell the difference for the HTTP API (proxies, populate, reset, toxics, version) and the
toxics latency, bandwidth, slow_close, timeout, reset_peer, slicer and limit_data.

Deliberate differences from upstream (each marked in the code where it happens):
- `--seed` works: toxicity is rolled once per (connection, direction, toxic) from a generator
  seeded by (seed, proxy, connection number, direction, toxic name), and jitter likewise, so the
  same seed gives the same rolls (rolls.py).
- `bandwidth` with rate 0 passes data unlimited; upstream means that too but spins forever on
  empty slices (toxics.py).
- `slicer` with average_size 0, or a size_variation that pushes a cut outside the piece, stops at
  one byte and keeps cuts inside; upstream recurses forever or panics (rolls.py).
- `slow_close` removed or replaced while it waits keeps the pending close for the next toxic;
  upstream forgets it and the link hangs (toxics.py).
- Toxics apply to connections already open when they are added, `reset_peer` included.

Modules: server, httpd, api and jsonio (the HTTP API); collection, proxy, listener, connection,
link and toxics (the proxies and their toxic chains); rolls (seeded randomness); client (the
`Toxiproxy` port and its HTTP adapter over toxiproxy-python, which the runner and the fault API
use against this server or the real one); fake (an in-memory `Toxiproxy` for unit tests).
"""

VERSION = "2.12.0"  # the upstream release whose API we match; clients sometimes log it
