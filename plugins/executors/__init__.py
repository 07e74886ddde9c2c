"""Standard executors beyond the core's ``local`` and ``pool``: process (a fresh process per
job) and ray."""

from __future__ import annotations

from zsbench import hookimpl
from zsbench_plugins.executors.process import ProcessExecutor
from zsbench_plugins.executors.ray import RayExecutor


@hookimpl
def zsbench_add_executors() -> list[type]:
    return [ProcessExecutor, RayExecutor]
