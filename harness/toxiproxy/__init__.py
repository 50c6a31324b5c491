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
- API connections: a request must arrive whole within 15 s of the server starting to wait for it,
  as upstream's ReadTimeout, but that bound also applies between keep-alive requests (upstream
  waits 60 s there); the issue asks for idle API connections closed within 20 s (httpd.py).
- Shutdown (SIGTERM/SIGINT) closes every API connection at once, a request in flight included;
  upstream closes the idle ones and waits up to 30 s for the others (httpd.py).
- JSON nested deeper than Python's parser goes (about 1,000 levels; Go's limit is 10,000) is a
  400 `invalid character ... exceeded max depth`, Go's message for its own limit (jsonio.py).
- Flags: `-host`, `-port`, `-config`, `-seed`, `-version` with one dash or two, as Go's flag
  package; `--log-level` is ours (upstream reads LOG_LEVEL); `-runtime-metrics` and
  `-proxy-metrics` are refused, there is no /metrics (cli.py).

Modules: server, httpd, api and jsonio (the HTTP API); collection, proxy, listener, connection,
link and toxics (the proxies and their toxic chains); rolls (seeded randomness); client (the
`Toxiproxy` port and its HTTP adapter over toxiproxy-python, which the runner and the fault API
use against this server or the real one); fake (an in-memory `Toxiproxy` for unit tests).
"""

VERSION = "2.12.0"  # the upstream release whose API we match; clients sometimes log it
