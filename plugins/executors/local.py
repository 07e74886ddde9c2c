"""The default executor: one job after another in this process."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from zsbench.plugin import Executor
from zsbench.runner import Job, JobResult


class LocalExecutor(Executor):
    """In-process, one job after another (the default)."""

    name = "local"

    def __init__(self) -> None:
        pass

    def map(self, jobs: Sequence[Job], task: Callable[[Job], JobResult],
            on_result: Callable[[Job, JobResult], None]) -> None:
        for job in jobs:
            on_result(job, task(job))
