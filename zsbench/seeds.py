"""Seeds of independent random streams, derived from one seed and a stream name. A leaf
module (numpy only), so the runner and the plugin contracts can derive seeds without torch."""

from __future__ import annotations

import hashlib

import numpy as np

_LOOP_STREAMS = {"init": 0, "shuffle": 1, "noise": 2, "validation": 3}


def derive_seed(seed: int, stream: str) -> int:
    """An independent 63-bit seed for the stream named ``stream`` (any string: the loop uses
    "init", "shuffle", "noise" and "validation"; a model may add its own, e.g. "dropout"),
    derived from ``seed`` and the name with :class:`numpy.random.SeedSequence`. The same
    (seed, name) always gives the same value; different names give independent streams."""
    key = _LOOP_STREAMS.get(stream)
    if key is None:
        digest = hashlib.sha256(stream.encode("utf-8")).digest()
        key = int.from_bytes(digest[:8], "little") | (1 << 64)  # never one of the loop's
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, key])
    return int(state.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
