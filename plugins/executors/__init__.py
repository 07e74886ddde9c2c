"""Standard executors: local (in-process), process (a pool of worker processes), ray."""

from __future__ import annotations

from zsbench import hookimpl
from zsbench_plugins.executors.local import LocalExecutor
from zsbench_plugins.executors.process import ProcessExecutor
from zsbench_plugins.executors.ray import RayExecutor


@hookimpl
def zsbench_add_executors() -> list[type]:
    return [LocalExecutor, ProcessExecutor, RayExecutor]
