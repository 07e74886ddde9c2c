"""Standard models."""

from __future__ import annotations

from zsbench import hookimpl


@hookimpl
def zsbench_add_models() -> list[type]:
    return []
