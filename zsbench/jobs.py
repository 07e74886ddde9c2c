"""The unit of work of a run: a :class:`Job` (one model configuration under one seed) and
the :class:`JobResult` it produces. A leaf module: it imports nothing else of zsbench, so the
plugin contracts, the hooks and the executors can all name these types."""

from __future__ import annotations

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
    "headline", "metric"}``; ``status`` is "ok" or "failed"."""

    label: str
    plugin: str
    seed: int
    status: str
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    detail: str | None = None
    warnings: list[str] = field(default_factory=list)
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
