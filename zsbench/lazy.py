"""Per-split arrays computed when first read: the latents, reconstructions and draws of an
evaluation (:func:`zsbench.runner.evaluate`).

A split's draws cost a full sampler run per image; most metrics read a few splits, many
read none. :class:`LazySplits` is a read-only mapping ``split -> array`` whose keys are
known up front (``"hole" in ctx.reconstructions`` computes nothing) and whose values are
computed on the first ``ctx.reconstructions[split]``, once, and shared by every later
reader. A value is handed out as a read-only view. :meth:`LazySplits.rows` reads a
subset of a split's rows; where the mapping was given ``compute_rows`` (a conditional
generator, whose every row is a sampler run) the subset is drawn on its own, so a metric
that scores 1,000 of 60,000 training images pays for 1,000. A
:class:`~zsbench.errors.ZsbenchError` raised while computing a split (a model that broke
its contract) is kept in :attr:`LazySplits.failures` and raised again to every later
reader, so the runner can fail the job for it whichever metric read the split first.
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
    far; :meth:`computed`: the splits computed so far, in order. ``compute_rows(split,
    rows)``: the values of ``rows`` (sorted indices ``[R]``) of a split alone, for
    :meth:`rows`; without it a subset is read from the whole split. ``sizes``: each
    split's row count, so that :meth:`rows` asked for every row reads the whole split."""

    def __init__(self, names: Iterable[str], compute: Callable[[str], np.ndarray], *,
                 ready: Mapping[str, np.ndarray] | None = None,
                 compute_rows: Callable[[str, np.ndarray], np.ndarray] | None = None,
                 sizes: Mapping[str, int] | None = None) -> None:
        self._names = tuple(dict.fromkeys([*names, *(ready or {})]))
        self._sizes = dict(sizes or {})
        self._compute = compute
        self._compute_rows = compute_rows
        self._subsets: dict[tuple[str, bytes], np.ndarray] = {}
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
            self._values[name] = self._timed(name, lambda: self._compute(name))
            self._order.append(name)
        return self._values[name]

    def rows(self, name: str, rows: np.ndarray) -> np.ndarray:
        """The values of ``rows`` (indices ``[R]``, sorted, as
        :func:`zsbench.splits.even_rows` gives: distinct) of split ``name``, ``[R, ...]``:
        read from the whole split when the mapping has no ``compute_rows`` or ``rows`` are
        every row of it, otherwise computed for those rows alone, once per (split, rows),
        whether or not another reader computed the whole split (so a score never depends
        on which metric ran first)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if name in self.failures:
            raise self.failures[name]
        whole = self._sizes.get(name) == len(rows)
        if self._compute_rows is None or name not in self._names or whole:
            return self[name][rows]
        key = (name, rows.tobytes())
        if key not in self._subsets:
            compute_rows = self._compute_rows
            self._subsets[key] = self._timed(name, lambda: compute_rows(name, rows))
        return self._subsets[key]

    def _timed(self, name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """``compute()`` read-only, its wall time added to :attr:`seconds`; a
        :class:`ZsbenchError` it raises kept in :attr:`failures` under ``name``."""
        t0 = time.perf_counter()
        try:
            value = compute()
        except ZsbenchError as exc:
            self.failures[name] = exc
            raise
        finally:
            self.seconds += time.perf_counter() - t0
        return _read_only(value)

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


def read_rows(arrays: Mapping[str, np.ndarray], name: str,
              rows: np.ndarray | None) -> np.ndarray:
    """Rows ``rows`` of split ``name`` of ``arrays`` (all of them when None): through
    :meth:`LazySplits.rows` when ``arrays`` is one (a generator's subset drawn alone),
    else indexed (a plain mapping, as tests build)."""
    if rows is None:
        return arrays[name]
    if isinstance(arrays, LazySplits):
        return arrays.rows(name, rows)
    return np.asarray(arrays[name])[np.asarray(rows, dtype=np.int64)]


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
