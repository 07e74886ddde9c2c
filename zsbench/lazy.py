"""Per-split arrays computed when first read: the latents, reconstructions and draws of an
evaluation (:func:`zsbench.runner.evaluate`).

A split's draws cost a full sampler run per image; most metrics read a few splits, many
read none. :class:`LazySplits` is a read-only mapping ``split -> array`` whose keys are
known up front (``"hole" in ctx.reconstructions`` computes nothing) and whose values are
computed on the first ``ctx.reconstructions[split]``, once, and shared by every later
reader. A value is handed out as a read-only view. A :class:`~zsbench.errors.ZsbenchError`
raised while computing a split (a model that broke its contract) is kept in
:attr:`LazySplits.failures` and raised again to every later reader, so the runner can fail
the job for it whichever metric read the split first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from zsbench.errors import ZsbenchError
from zsbench.jobs import JobResult


class LazySplits(Mapping[str, np.ndarray]):
    """``split -> array`` for ``names``, each from ``compute(split)`` on its first read.

    ``ready``: values known without computing (e.g. the empty arrays of empty splits);
    they are handed out read-only too. ``seconds``: the wall time spent in ``compute`` so
    far; :meth:`computed`: the splits computed so far, in order."""

    def __init__(self, names: Iterable[str], compute: Callable[[str], np.ndarray], *,
                 ready: Mapping[str, np.ndarray] | None = None) -> None:
        self._names = tuple(dict.fromkeys([*names, *(ready or {})]))
        self._compute = compute
        self._values: dict[str, np.ndarray] = {}
        self._order: list[str] = []
        self.failures: dict[str, ZsbenchError] = {}
        self.seconds = 0.0
        for name, value in (ready or {}).items():
            self._values[name] = _read_only(value)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(name)
        if name in self.failures:
            raise self.failures[name]
        if name not in self._values:
            t0 = time.perf_counter()
            try:
                value = self._compute(name)
            except ZsbenchError as exc:
                self.failures[name] = exc
                raise
            finally:
                self.seconds += time.perf_counter() - t0
            self._values[name] = _read_only(value)
            self._order.append(name)
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def computed(self) -> tuple[str, ...]:
        """The splits computed so far (not those given ``ready``), first read first."""
        return tuple(self._order)

    def __repr__(self) -> str:
        return (f"LazySplits({list(self._names)}, computed={list(self._order)}, "
                f"failed={list(self.failures)})")


def record_on_demand(arrays: Iterable[Mapping[str, Any]], result: JobResult) -> None:
    """What an evaluation computed on demand (``arrays``: its latents and reconstructions):
    the seconds they took (``result.timings["draws_s"]``, inside the metrics' and outputs'
    time) and, when a model broke its contract while a metric read a split (a draw of NaN,
    of another shape), the job failed for it (``evaluating: ...``, its scores dropped),
    whichever metric read the split first."""
    lazy = [m for m in arrays if isinstance(m, LazySplits)]
    result.timings["draws_s"] = sum(m.seconds for m in lazy)
    failures = [exc for m in lazy for exc in m.failures.values()]
    if failures:
        result.status = "failed"
        result.error = f"evaluating: {failures[0]}"
        result.scores.clear()


def _read_only(value: np.ndarray) -> np.ndarray:
    """A read-only view of ``value`` (no copy; the array itself stays as it was)."""
    view = np.asarray(value).view()
    view.setflags(write=False)
    return view
