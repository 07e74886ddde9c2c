"""The torch settings a job runs under, one home for each: deterministic algorithms and the
number of CPU threads. Each context restores exactly what it found (for deterministic
algorithms, the flag *and* its ``warn_only``). torch is imported on use: importing this
module stays cheap."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from zsbench.errors import DataError


@contextlib.contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """Run with torch's deterministic algorithms (a warning, not an error, where an
    operation has none), then restore the previous setting and its ``warn_only``."""
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch intra-op CPU threads (None: leave the setting), then restore
    the previous count. The count changes the last bits of float results, so every
    executor uses the run's one value."""
    if n is None:
        yield
        return
    if int(n) < 1:
        raise DataError(f"num_threads must be >= 1; got {n}.")
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
