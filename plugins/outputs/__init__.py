"""Standard outputs."""

from __future__ import annotations

from zsbench import hookimpl


@hookimpl
def zsbench_add_outputs() -> list[type]:
    return []
