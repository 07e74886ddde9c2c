"""The unit of work of a run: a :class:`Job` (one model configuration under one seed) and
the :class:`JobResult` it produces. A leaf module: it imports nothing else of zsbench, so the
plugin contracts, the hooks and the executors can all name these types."""

from __future__ import annotations

import os
import signal
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Job:
    """One model configuration trained and evaluated under one seed."""

    label: str
    plugin: str
    params: dict[str, Any]
    weighting: str | None
    seed: int

    @property
    def key(self) -> str:
        return f"{self.label}/seed{self.seed}"


@dataclass
class JobResult:
    """What one job produced. ``scores`` maps a score name to ``{"value", "higher_is_better",
    "headline", "metric"}``; ``status`` is "ok" or "failed". ``skipped`` maps a metric or
    output that does not apply to this model (``"metric NAME"``, ``"output NAME"``) to the
    reason: not applicable, no failure. ``failures`` maps a metric or output that failed
    to its error, beside the one-line ``warnings``."""

    label: str
    plugin: str
    seed: int
    status: str
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    detail: str | None = None
    warnings: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobResult:
        return cls(**d)


def failed_result(job: Job, error: str, detail: str | None = None) -> JobResult:
    """A failed result for a job whose worker could not report one (it died)."""
    return JobResult(label=job.label, plugin=job.plugin, seed=job.seed, status="failed",
                     error=error, detail=detail)


def worker_died(job: Job, exitcode: int | None) -> JobResult:
    """The failed result of a job whose worker process ended without reporting, with what
    its exit code says: a signal (SIGKILL is most often the kernel's out-of-memory killer)
    or an exit status of its own (the worker's error, if it printed one, is above in the
    run's output)."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        cause = (f"killed by {name}" + ("; most often the out-of-memory killer: give the "
                                        "jobs more memory or run fewer side by side "
                                        "(--workers)" if name == "SIGKILL" else ""))
    else:
        cause = (f"exit status {exitcode}: it stopped before it could report (its own "
                 "error, if it printed one, is above; a worker that cannot start, e.g. "
                 "cannot import a plugin, ends this way); --executor local runs the job in "
                 "this process and shows the error")
    return failed_result(job, f"worker process died ({cause})")


@dataclass(frozen=True)
class Layout:
    """How a run uses the machine: ``workers`` jobs side by side, each with ``threads``
    torch threads, on a machine of ``cores`` cores. Scores are bit-identical for the same
    suite, seed and ``threads``, whatever the number of workers or the executor."""

    workers: int
    threads: int
    cores: int

    def to_dict(self) -> dict[str, int]:
        return {"workers": self.workers, "threads_per_job": self.threads, "cores": self.cores}


def plan_layout(n_jobs: int, *, threads: int | None = None, workers: int | None = None,
                cores: int | None = None) -> Layout:
    """The whole machine for ``n_jobs`` jobs: with ``threads`` given, as many jobs side by
    side as the cores allow at that count (at most ``n_jobs``); without, one job per core
    and the spare cores shared out as threads, so a single long job gets every core.
    ``workers`` fixes the number of jobs side by side."""
    cores = max(1, int(cores or os.cpu_count() or 1))
    n = max(1, int(n_jobs))
    if threads is not None:
        threads = max(1, int(threads))
        side = workers or max(1, min(n, cores // threads))
        return Layout(workers=max(1, int(side)), threads=threads, cores=cores)
    side = max(1, int(workers or min(n, cores)))
    return Layout(workers=side, threads=max(1, cores // side), cores=cores)
