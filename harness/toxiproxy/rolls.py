"""Seeded randomness for toxics: one generator per (connection, direction, toxic).

Upstream draws from one global generator, so two runs interleave draws differently and its
`-seed` flag changes nothing. Deriving an independent generator from the seed and the link's
identity makes every roll and every jitter value a pure function of (seed, what happened on that
connection), whatever the scheduling of other connections.
"""

from __future__ import annotations

import random


def link_rng(seed: int, proxy: str, connection: int, direction: str, toxic: str) -> random.Random:
    # A str seed goes through SHA-512 inside `random`, so it is stable across processes and
    # independent of PYTHONHASHSEED.
    return random.Random(f"{seed}/{proxy}/{connection}/{direction}/{toxic}")


def applies(roll: float, toxicity: float) -> bool:
    """Toxicity is the chance the toxic applies: rolled once, compared with the current value."""
    return roll < toxicity


def jittered_ms(rng: random.Random, latency: int, jitter: int) -> int:
    """latency plus or minus jitter, drawn like upstream: uniform in [-jitter, jitter)."""
    if jitter <= 0:
        return latency
    return latency + rng.randrange(jitter * 2) - jitter


def slice_offsets(
    rng: random.Random, start: int, end: int, average: int, variation: int
) -> list[int]:
    """Cut points for the slicer, as upstream's recursive halving: [0, a, a, b, b, ..., end]."""
    # Upstream recurses forever on 1-byte pieces when average_size is 0, and panics when the
    # variation pushes the cut outside the piece: stop at one byte and keep cuts inside.
    if (end - start) - average <= variation or end - start <= 1:
        return [start, end]
    mid = start + (end - start) // 2
    if variation > 0:
        mid += rng.randrange(variation * 2) - variation
    mid = min(max(mid, start + 1), end - 1)
    return slice_offsets(rng, start, mid, average, variation) + slice_offsets(
        rng, mid, end, average, variation
    )
