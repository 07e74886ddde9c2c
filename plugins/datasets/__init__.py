"""Standard datasets."""

from __future__ import annotations

from zsbench import hookimpl


@hookimpl
def zsbench_add_datasets() -> list[type]:
    return []
