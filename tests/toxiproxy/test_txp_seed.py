"""Same seed, same toxicity rolls and jitter: a pure contract, checked on the wire too."""

from __future__ import annotations

import random

import pytest

from harness.toxiproxy import rolls
from harness.toxiproxy.client import ToxiproxyClient
from harness.toxiproxy.testing import BackgroundToxiproxy
from tests.toxiproxy.txp_helpers import connect, round_trip

CONNECTIONS = 16


def test_link_rng_is_a_function_of_its_identity():
    a = rolls.link_rng(7, "p", 3, "downstream", "t")
    b = rolls.link_rng(7, "p", 3, "downstream", "t")
    assert [a.random() for _ in range(5)] == [b.random() for _ in range(5)]
    others = [
        rolls.link_rng(8, "p", 3, "downstream", "t"),
        rolls.link_rng(7, "q", 3, "downstream", "t"),
        rolls.link_rng(7, "p", 4, "downstream", "t"),
        rolls.link_rng(7, "p", 3, "upstream", "t"),
        rolls.link_rng(7, "p", 3, "downstream", "u"),
    ]
    first = rolls.link_rng(7, "p", 3, "downstream", "t").random()
    assert all(o.random() != first for o in others)


def test_jitter_is_latency_plus_or_minus_jitter():
    rng = random.Random(1)
    values = {rolls.jittered_ms(rng, 100, 10) for _ in range(2000)}
    assert min(values) == 90 and max(values) == 109
    assert rolls.jittered_ms(rng, 100, 0) == 100


def test_slice_offsets_cover_the_data_in_order():
    rng = random.Random(3)
    cuts = rolls.slice_offsets(rng, 0, 1000, 10, 3)
    assert cuts[0] == 0 and cuts[-1] == 1000
    pieces = list(zip(cuts[::2], cuts[1::2], strict=True))
    assert all(a < b for a, b in pieces)
    assert all(pieces[i][1] == pieces[i + 1][0] for i in range(len(pieces) - 1))
    assert rolls.slice_offsets(rng, 0, 5, 0, 0)[-1] == 5  # upstream would recurse forever here


def _observed_rolls(seed: int, echo_port: int) -> list[bool]:
    """Which of CONNECTIONS sequential connections a 50% limit_data toxic hit."""
    with BackgroundToxiproxy(seed=seed) as server, ToxiproxyClient(server.url) as client:
        proxy = client.create_proxy("dice", f"127.0.0.1:{echo_port}")
        client.add_toxic("dice", "limit_data", {"bytes": 1}, toxicity=0.5, name="cut")
        hits = []
        for _ in range(CONNECTIONS):
            with connect(proxy.listen) as sock:
                sock.sendall(b"hello")
                received = b""
                while len(received) < 5:
                    chunk = sock.recv(10)
                    if not chunk:
                        break
                    received += chunk
                hits.append(received == b"h")
                assert received in (b"h", b"hello")
        return hits


def _predicted_rolls(seed: int) -> list[bool]:
    return [
        rolls.applies(rolls.link_rng(seed, "dice", n, "downstream", "cut").random(), 0.5)
        for n in range(1, CONNECTIONS + 1)
    ]


@pytest.mark.parametrize("seed", [7, 99])
def test_same_seed_gives_the_same_rolls_on_real_connections(seed, echo_port):
    first = _observed_rolls(seed, echo_port)
    assert first == _observed_rolls(seed, echo_port)
    assert first == _predicted_rolls(seed)
    assert 0 < sum(first) < CONNECTIONS  # the toxic really is a coin flip here


def test_different_seeds_give_different_rolls():
    assert _predicted_rolls(7) != _predicted_rolls(99)


def test_seeded_jitter_is_the_predicted_sequence_on_the_wire(echo_port):
    def predicted(seed: int) -> list[int]:
        # The link's generator yields the toxicity roll first, then one jitter per chunk.
        rng = rolls.link_rng(seed, "j", 1, "downstream", "latency_downstream")
        rng.random()
        return [rolls.jittered_ms(rng, 100, 100) for _ in range(4)]

    assert predicted(5) == predicted(5) != predicted(6)
    with BackgroundToxiproxy(seed=5) as server, ToxiproxyClient(server.url) as client:
        proxy = client.create_proxy("j", f"127.0.0.1:{echo_port}")
        client.add_toxic("j", "latency", {"latency": 100, "jitter": 100})
        with connect(proxy.listen) as sock:
            measured = [round_trip(sock) for _ in range(4)]
    # Each round trip takes at least the delay drawn for it: a different draw would undercut one.
    assert all(m >= p / 1000 - 0.0005 for m, p in zip(measured, predicted(5), strict=True))
