"""Per-set noise seeds: the live node and offline bag processing draw the same noise for the same view set.

The seed depends only on the configured base seed and the set's output stamp (the newest view stamp), never on
how many sets came before, so a set fused live and the same set fused offline get identical hypotheses even
when one of the two runs dropped or skipped other sets. Both call ``set_noise_seed(seed parameter, stamp)`` and
pass the result as ``seed`` to ``backend.infer`` (through ``FusionPipeline.fuse``).
"""

from __future__ import annotations

import hashlib
import struct

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def set_noise_seed(base_seed: int, stamp_ns: int) -> int | None:
    """The backend seed of the set stamped ``stamp_ns`` (ns): a stable value in [0, 2**32) (blake2b of both
    numbers) for ``base_seed`` >= 0, None (fresh noise for every set) for a negative ``base_seed``."""
    for name, value in (("base_seed", base_seed), ("stamp_ns", stamp_ns)):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"{name} must fit a signed 64-bit integer, got {value}")
    if base_seed < 0:
        return None
    digest = hashlib.blake2b(struct.pack("<qq", base_seed, stamp_ns), digest_size=4, person=b"fusionvae-noise")
    return int.from_bytes(digest.digest(), "little")
