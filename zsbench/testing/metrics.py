"""The metric checks, on synthetic evaluation contexts (:func:`make_eval_context`): named
float scores with a direction, NaN only where undefined, determinism, the context left
alone, and the oracle (a perfect reconstruction never scores worse than a degraded one)."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from zsbench.plugin import EvalContext, Metric, Score
from zsbench.testing._base import Check, PluginLike, Subject, _Fail, bind, conformance_check
from zsbench.testing.common import COMMON_CHECKS
from zsbench.testing.data import make_eval_context

_REALISTIC = {"degrade_hole": 0.3, "degrade_outside": 0.1}

SCENARIOS: dict[str, dict[str, Any]] = {
    "realistic": dict(_REALISTIC),
    "no_hole": {"hole": False, **_REALISTIC},
    "perfect": {},
    "hole_degraded": {"degrade_hole": 0.8},
    "outside_degraded": {"degrade_outside": 0.4},
}
"""The synthetic contexts metrics and outputs are checked on, by name."""

_CONTEXTS: dict[tuple[int, tuple[tuple[str, Any], ...]], EvalContext] = {}


def context(which: str, seed: int) -> EvalContext:
    """A deep copy of scenario ``which``'s context, built once per process, so that a plugin
    that modifies one fails only the check that looks for it."""
    key = (seed, tuple(sorted(SCENARIOS[which].items())))
    if key not in _CONTEXTS:
        _CONTEXTS[key] = make_eval_context(seed=seed, **SCENARIOS[which])
    return copy.deepcopy(_CONTEXTS[key])


def _compute(metric: Metric, ctx: EvalContext) -> dict[str, Score]:
    out = metric.compute(ctx)
    if not isinstance(out, dict) or not out:
        raise _Fail(f"compute returned {out!r}; expected a non-empty dict "
                    "{name: Score(value, higher_is_better, headline)}.")
    for name, score in out.items():
        if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
            raise _Fail(f"score name {name!r} is not a non-empty string without spaces.")
        if not isinstance(score, Score):
            raise _Fail(f"score {name!r} is {type(score).__name__}; expected zsbench.Score.")
        if isinstance(score.value, bool) or not isinstance(
                score.value, (float, int, np.floating, np.integer)):
            raise _Fail(f"score {name!r} has value {score.value!r} "
                        f"({type(score.value).__name__}); expected a float.")
        if not isinstance(score.higher_is_better, (bool, np.bool_)):
            raise _Fail(f"score {name!r} has higher_is_better={score.higher_is_better!r}; "
                        "expected True or False.")
        if not isinstance(score.headline, (bool, np.bool_)):
            raise _Fail(f"score {name!r} has headline={score.headline!r}; expected a bool.")
    return out


class MetricHarness(Subject):
    """A metric under test; ``scores(which)`` computes it once per scenario."""

    base = Metric
    kind = "metric"

    def __init__(self, plugin: PluginLike, *, label: str | None = None, seed: int = 0) -> None:
        super().__init__(plugin, label=label, seed=seed)
        self._scores: dict[str, dict[str, Score]] = {}

    def scores(self, which: str) -> dict[str, Score]:
        if which not in self._scores:
            self._scores[which] = _compute(self.fresh(), context(which, self.seed))
        return self._scores[which]


def _snapshot(ctx: EvalContext) -> list[np.ndarray]:
    arrays: list[np.ndarray] = []
    for s in ctx.splits.values():
        arrays += [s.factors, s.images] + ([] if s.depth is None else [s.depth])
    arrays += list(ctx.latents.values()) + list(ctx.reconstructions.values())
    for t in ctx.transects:
        arrays += [t.t, t.factors, t.images, t.reconstructions, t.latents, t.in_hole]
    return [np.array(a, copy=True) for a in arrays]


def _same_value(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


metric_check = conformance_check(MetricHarness)


@metric_check
def check_scores_named_floats(h: MetricHarness) -> None:
    """``compute`` returns a non-empty dict of :class:`Score` with float values and bool
    directions."""
    h.scores("realistic")


def _nothing_counts(score: Score) -> bool:
    """Whether ``score`` is a mean over per-image ``items`` of which none is finite."""
    items = getattr(score, "items", None)
    return items is not None and not np.isfinite(np.asarray(items, dtype=np.float64)).any()


@metric_check
def check_scores_finite_with_hole(h: MetricHarness) -> None:
    """Every score is finite on a context with a hole and transects, except a mean over
    images none of which counts (``Score.items`` all NaN: e.g. a factor error over valid
    reconstructions when the degraded hole has none): that mean is undefined."""
    bad = {n: float(s.value) for n, s in h.scores("realistic").items()
           if not math.isfinite(float(s.value)) and not _nothing_counts(s)}
    if bad:
        raise _Fail(f"scores {bad} are not finite on a context with a hole, transects "
                    "and a reasonable reconstruction; NaN is for values that are "
                    "undefined (no hole), never an error signal: raise instead.")


@metric_check
def check_no_hole(h: MetricHarness) -> None:
    """Without a hole: no error, no infinity (NaN where a value is undefined)."""
    inf = {n: float(s.value) for n, s in h.scores("no_hole").items()
           if math.isinf(float(s.value))}
    if inf:
        raise _Fail(f"scores {inf} are infinite without a hole; expected finite values "
                    "or NaN where a value is undefined.")


@metric_check
def check_direction_declared(h: MetricHarness) -> None:
    """A score's direction is the same on every context."""
    directions: dict[str, bool] = {}
    for which in SCENARIOS:
        for name, s in h.scores(which).items():
            d = bool(s.higher_is_better)
            if directions.setdefault(name, d) != d:
                raise _Fail(f"score {name!r} declares higher_is_better={d} on one context "
                            f"and {not d} on another; a score's direction is fixed.")


@metric_check
def check_deterministic(h: MetricHarness) -> None:
    """Two computations on the same context agree."""
    a = h.scores("realistic")
    b = _compute(h.fresh(), context("realistic", h.seed))
    if a.keys() != b.keys():
        raise _Fail(f"two computations gave different score names: {sorted(a)} vs "
                    f"{sorted(b)}.")
    diff = {n: (float(a[n].value), float(b[n].value)) for n in a
            if not _same_value(float(a[n].value), float(b[n].value))}
    if diff:
        raise _Fail(f"two computations on the same context differ: {diff}; seed any "
                    "randomness from a parameter.")


@metric_check
def check_context_unchanged(h: MetricHarness) -> None:
    """``compute`` leaves the shared context unmodified."""
    ctx = context("realistic", h.seed)
    before = _snapshot(ctx)
    _compute(h.fresh(), ctx)
    after = _snapshot(ctx)
    if len(before) != len(after) or any(
            a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
            for a, b in zip(before, after)):
        raise _Fail("compute modified the evaluation context; it is shared by every "
                    "metric and output, so work on copies.")


@metric_check
def check_oracle_reconstruction(h: MetricHarness) -> None:
    """A perfect reconstruction (P) against the same context degraded inside the hole only
    (H) and outside it only (O), latents unchanged: every score that changes from P to H
    must be better for P in its declared direction; every score that H leaves unchanged but
    O changes likewise. Scores that read only latents change in neither and are not
    judged."""
    perfect = h.scores("perfect")
    hole = h.scores("hole_degraded")
    out = h.scores("outside_degraded")
    problems = []
    for name, s in perfect.items():
        p = float(s.value)
        hib = bool(s.higher_is_better)
        arrow = "higher" if hib else "lower"
        for other, kind in ((hole, "inside the hole"), (out, "outside the hole")):
            if name not in other:
                continue
            o = float(other[name].value)
            if kind == "outside the hole" and name in hole and not _same_value(
                    p, float(hole[name].value)):
                break  # judged on the hole comparison
            if math.isnan(p) or math.isnan(o) or _same_value(p, o):
                continue
            if (p < o) if hib else (p > o):
                problems.append(f"{name}: perfect reconstruction {p:.6g}, degraded "
                                f"{kind} {o:.6g}, but the score declares {arrow} is "
                                "better")
            break
    if problems:
        raise _Fail("a perfect reconstruction scored worse than a degraded one: "
                    + "; ".join(problems) + ". Check higher_is_better of these scores.")


METRIC_CHECKS = (check_scores_named_floats, check_scores_finite_with_hole, check_no_hole,
                 check_direction_declared, check_deterministic, check_context_unchanged,
                 check_oracle_reconstruction)


def check_metric(metric: PluginLike, *, seed: int = 0,
                 label: str | None = None) -> Iterator[Check]:
    """Yield the checks of a metric plugin as :class:`Check` ``(name, run)`` pairs.

    ``metric``: an instance (e.g. ``MyMetric(threshold=0.1)``), a class or a factory. The
    metric is computed on synthetic contexts from :func:`make_eval_context`; see
    :func:`check_oracle_reconstruction` for the oracle.
    """
    h = MetricHarness(metric, label=label, seed=seed)
    for check in (*COMMON_CHECKS, *METRIC_CHECKS):
        yield bind(check, h)
