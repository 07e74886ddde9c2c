"""Jobs as Ray tasks, on a local Ray instance or an existing cluster (``zsbench[ray]``)."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from zsbench.errors import ZsbenchError
from zsbench.jobs import Layout
from zsbench.plugin import Executor, ExecutorOption
from zsbench.runner import Job, JobResult, failed_result


def _ray_job(task: Callable[[Job], JobResult], job: Job) -> dict[str, Any]:
    return task(job).to_dict()


class RayExecutor(Executor):
    """Each model x seed job a Ray task; joins ``address`` or starts (and stops) a local Ray.

    ``num_cpus`` per task defaults to the run's torch threads per job."""

    name = "ray"
    cli_options = (
        ExecutorOption("--ray-address", "address", str,
                       "join this cluster (default: start a local Ray)"),
        ExecutorOption("--num-cpus", "num_cpus", float,
                       "CPUs per job (default: the torch threads per job)"),
        ExecutorOption("--num-gpus", "num_gpus", float, "GPUs per job (default 0)"),
    )

    def __init__(self, *, address: str | None = None, num_cpus: float | None = None,
                 num_gpus: float = 0.0) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus

    def layout(self, n_jobs: int, threads: int | None, *, portable: bool = True) -> Layout:
        """``threads`` (default 1) per job; Ray decides how many run at once."""
        return Layout(workers=0, threads=threads or 1, cores=os.cpu_count() or 1)

    def map(self, jobs: Sequence[Job], task: Callable[[Job], JobResult],
            on_result: Callable[[Job, JobResult], None]) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ZsbenchError('the "ray" executor needs Ray. Fix: pip install "zsbench[ray]", '
                               "or choose --executor local or process.") from exc
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        try:
            cpus = self.num_cpus if self.num_cpus is not None else getattr(task, "threads", 1)
            remote = ray.remote(num_cpus=cpus, num_gpus=self.num_gpus, max_retries=0)(_ray_job)
            task_ref = ray.put(task)
            refs = {remote.remote(task_ref, job): job for job in jobs}
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    job = refs.pop(ref)
                    try:
                        result = JobResult.from_dict(ray.get(ref))
                    except Exception as exc:  # a dead worker or a task error
                        result = failed_result(job, f"ray task failed: {type(exc).__name__}: "
                                               f"{str(exc).splitlines()[0] if str(exc) else ''}",
                                               traceback.format_exc())
                    on_result(job, result)
        finally:
            if started:
                ray.shutdown()
