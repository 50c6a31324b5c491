"""Fresh ids from a seeded random stream: the same seed, the same ids."""

from __future__ import annotations

import random

_VERSION_4 = (0x4 << 76) | (0x2 << 62)  # version 4, RFC 4122 variant
_KEEP = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)


def uuid4_text(rng: random.Random) -> str:
    """str(uuid.UUID(int=rng.getrandbits(128), version=4)), without building a UUID object."""
    h = "%032x" % ((rng.getrandbits(128) & _KEEP) | _VERSION_4)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
