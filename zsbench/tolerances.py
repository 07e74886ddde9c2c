"""Tolerances of a regression check: the suite's ``[tolerances]`` table, parsed and resolved.

A leaf module: it imports nothing of zsbench but :mod:`zsbench.errors`, so that the suite
loader and the comparison can both use it. See :mod:`zsbench.comparison` for the rule.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from zsbench.errors import ZsbenchError, did_you_mean_hint

BUILTIN_TOLERANCE: dict[str, float] = {"relative": 0.10, "absolute": 1e-3, "spread": 0.0}
"""Used for every score when a suite's ``[tolerances]`` has no entry for it and no
``default``."""
TOLERANCE_KEYS = ("relative", "absolute", "spread")


class ComparisonError(ZsbenchError):
    """Two results that cannot be compared (different suites, a missing model or score):
    a usage error, exit code 2."""

    exit_code = 2


@dataclass(frozen=True)
class Tolerance:
    """How much a score may worsen: ``absolute + relative * |baseline| + spread * std``."""

    relative: float = 0.0
    absolute: float = 0.0
    spread: float = 0.0
    source: str = "builtin"

    def allowed(self, baseline: float, std: float = 0.0) -> float:
        s = std if math.isfinite(std) else 0.0
        b = abs(baseline) if math.isfinite(baseline) else 0.0
        return self.absolute + self.relative * b + self.spread * s

    def describe(self) -> str:
        parts = []
        if self.relative:
            parts.append(f"{self.relative:.3g}×")
        if self.absolute:
            parts.append(f"{self.absolute:.3g}")
        if self.spread:
            parts.append(f"{self.spread:.3g}σ")
        return " + ".join(parts) if parts else "exact"


def parse_tolerances(table: Mapping[str, Any], where: str = "[tolerances]"
                     ) -> dict[str, Tolerance]:
    """Validate a suite's ``[tolerances]`` table: each key (``default``, a score name or a
    metric plugin name) maps to a table of non-negative ``relative``, ``absolute`` and
    ``spread`` numbers."""
    out: dict[str, Tolerance] = {}
    if not isinstance(table, Mapping):
        raise ComparisonError(f"{where}: expected a table of tolerances, got {table!r}. Fix: "
                              "write e.g. default = { relative = 0.1, absolute = 1e-6 }.")
    for key, entry in table.items():
        if not isinstance(entry, Mapping):
            raise ComparisonError(
                f"{where}.{key}: expected a table like {{ relative = 0.1 }} or "
                f"{{ absolute = 0.02 }}, got {entry!r}. Fix: write {key} = {{ absolute = "
                f"{entry!r} }} or {key} = {{ relative = {entry!r} }}.")
        values: dict[str, float] = {}
        for k, v in entry.items():
            if k not in TOLERANCE_KEYS:
                hint = did_you_mean_hint(k, TOLERANCE_KEYS)
                raise ComparisonError(f"{where}.{key}.{k}: unknown key. Fix: {hint}allowed: "
                                      f"{', '.join(TOLERANCE_KEYS)}.")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ComparisonError(f"{where}.{key}.{k}: expected a non-negative number, "
                                      f"got {v!r}.")
            values[k] = float(v)
        out[str(key)] = Tolerance(**values, source=f"[tolerances].{key}")
    return out


def resolve_tolerance(tolerances: Mapping[str, Tolerance], score: str,
                      metric: str | None) -> Tolerance:
    """The most specific entry: the score's name, its metric plugin, ``default``, builtin."""
    for key in (score, metric, "default"):
        if key is not None and key in tolerances:
            return tolerances[key]
    return Tolerance(**BUILTIN_TOLERANCE, source="the builtin default")


def check_tolerance_keys(tolerances: Mapping[str, Tolerance], scores: Iterable[str],
                         metrics: Iterable[str], where: str) -> None:
    """A tolerance naming neither a score nor a metric plugin is a typo: a usage error."""
    known = set(scores) | {m for m in metrics if m} | {"default"}
    for key in tolerances:
        if key not in known:
            hint = did_you_mean_hint(key, known)
            raise ComparisonError(
                f'{where}.{key}: "{key}" is neither a score nor a metric plugin of these runs. '
                f"Fix: {hint}use a score name (see metrics.csv), a metric plugin name or "
                f"default.")
