"""Standard metrics."""

from __future__ import annotations

from zsbench import hookimpl


@hookimpl
def zsbench_add_metrics() -> list[type]:
    return []
