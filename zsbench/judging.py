"""How a drawn image is judged: the suite's ``[judging]`` table, stated once and read by every
score and picture that judges draws (``conditional_generation``, the emergence monitor,
``conditional_scatter``, ``conditional_strips``, ``conditional_depth``).

A draw is read back with the dataset's exact inverse renderer. It is **valid** when it is an
image of the family: its recovery residual is under the dataset's bar (or
``residual_threshold``) and, for a dataset that states its plain background
(:attr:`zsbench.plugin.Dataset.background`), its contrast, fitted against the render of the
recovered factors, lies within ``amplitude`` of the true one (a faint or an inverted image
fails) and nothing else is drawn: the largest local root-mean-square residual (3 x 3 pixel
windows) stays under ``local_residual`` of the render's peak contrast (a second, fainter
object fails). ``local_blur`` (pixels, default 0) compares the draw and the render after a
Gaussian blur of that width, for data of sharp shapes (sprites' binary shapes with a 1-pixel
antialiased edge): a drawing whose edges are a pixel softer is the same shape, while a
second object of 40 % strength still leaves about 0.4 of the contrast. A valid draw
**passes** when its recovered factors lie within ``tolerance`` of the request.

``tolerance`` is written in one of three units:

- a number, or ``{ range = 0.05 }``: a share of each factor's range (the default, 0.05);
- ``{ resolution = 0.5 }``: multiples of each factor's resolution, as the dataset states it
  (:attr:`zsbench.plugin.Dataset.resolution`: one pixel for a bump centre, the grid step of
  gridded data);
- ``{ units = 0.7 }``: the factor's own units (e.g. pixels for ``bumps``).

Either for all factors, or per factor: ``tolerance = { x = { resolution = 0.5 }, y = 0.05 }``
(factors left out keep the default). ``norm = "max"`` (the default) asks every factor to be
within its tolerance; ``norm = "euclidean"`` asks the errors, each in units of its
tolerance, to have a Euclidean length of at most 1 (``x`` and ``y`` both at half a pixel:
the recovered centre within half a pixel of the request).

A leaf module (it imports nothing of zsbench but :mod:`zsbench.errors`): the suite loader
parses with it, the contracts carry its :class:`Judging`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from zsbench.errors import ZsbenchError, did_you_mean_hint

UNITS = ("range", "resolution", "units")
NORMS = ("max", "euclidean")
KEYS = ("tolerance", "norm", "amplitude", "local_residual", "local_blur",
        "residual_threshold")
DEFAULT_TOLERANCE = ("range", 0.05)
DEFAULT_AMPLITUDE = 0.2
DEFAULT_LOCAL_RESIDUAL = 0.15
ALL = "*"
"""The key of :attr:`Judging.tolerance` that stands for every factor not named."""


class JudgingError(ZsbenchError):
    """A ``[judging]`` table that cannot be read: a usage error, exit code 2."""

    exit_code = 2


@dataclass(frozen=True)
class Judging:
    """The one rule by which draws are judged (see the module docstring).

    ``tolerance`` maps a factor name (or :data:`ALL`) to ``(unit, value)``, ``unit`` one of
    :data:`UNITS`; ``norm`` is "max" or "euclidean"; ``amplitude``: the largest relative
    departure of a draw's fitted contrast from 1 (None: not checked); ``local_residual``:
    the largest local RMS residual, a share of the render's peak contrast (None: not
    checked); ``local_blur``: the width (Gaussian sigma, pixels) of the blur applied to the
    draw and the render before the local residual (0: none); ``residual_threshold``: the
    recovery residual bar (None: the dataset's).
    ``source`` says where the rule comes from (``"[judging]"``, ``"default"``, or a
    plugin's override, which every output reports)."""

    tolerance: Mapping[str, tuple[str, float]] = field(
        default_factory=lambda: {ALL: DEFAULT_TOLERANCE})
    norm: str = "max"
    amplitude: float | None = DEFAULT_AMPLITUDE
    local_residual: float | None = DEFAULT_LOCAL_RESIDUAL
    residual_threshold: float | None = None
    source: str = "default"
    local_blur: float = 0.0

    def with_override(self, who: str, *, tolerance: float | None = None,
                      residual_threshold: float | None = None) -> Judging:
        """This rule with a plugin's own ``tolerance`` (a share of every factor's range)
        and/or ``residual_threshold``; itself when neither is given. The result's
        ``source`` names ``who`` so that the outputs report the override."""
        if tolerance is None and residual_threshold is None:
            return self
        changes: dict[str, Any] = {"source": f"{who} override of the suite's {self.source}"}
        if tolerance is not None:
            changes["tolerance"] = {ALL: ("range", float(tolerance))}
        if residual_threshold is not None:
            changes["residual_threshold"] = float(residual_threshold)
        return replace(self, **changes)

    def factor_tolerance(self, names: Sequence[str], spans: np.ndarray,
                         resolution: np.ndarray) -> np.ndarray:
        """The tolerance of each factor in its own units, ``float64 [F]``, from the factor
        ``names``, their ranges ``spans [F]`` and the dataset's ``resolution [F]`` (NaN
        where the dataset states none: a :class:`JudgingError` if a tolerance needs it)."""
        out = np.empty(len(names))
        for i, name in enumerate(names):
            unit, value = self.tolerance.get(name, self.tolerance.get(ALL, DEFAULT_TOLERANCE))
            if unit == "range":
                out[i] = value * float(spans[i])
            elif unit == "units":
                out[i] = value
            else:
                if not math.isfinite(float(resolution[i])) or resolution[i] <= 0:
                    raise JudgingError(
                        f'[judging].tolerance: factor "{name}" is judged in units of its '
                        f"resolution, but the dataset states none for it. Fix: give its "
                        f"tolerance as {{ range = 0.05 }} or {{ units = ... }}.")
                out[i] = value * float(resolution[i])
        return out

    def failed(self, errors: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
        """``bool [N]``: which factor errors ``[N, F]`` (factor units) are out of
        ``tolerance [F]`` (factor units) under :attr:`norm`."""
        scaled = np.asarray(errors, dtype=np.float64) / np.asarray(tolerance)[None, :]
        if self.norm == "euclidean":
            return np.sqrt((scaled ** 2).sum(axis=1)) > 1.0 + 1e-9
        return (scaled > 1.0 + 1e-9).any(axis=1)

    def describe(self, names: Sequence[str] = (), tolerance: np.ndarray | None = None) -> str:
        """One line: the tolerance (in factor units when ``tolerance [F]`` is given), the
        norm, the validity checks and where the rule comes from."""
        if tolerance is not None and len(names):
            tol = ", ".join(f"{n} {t:.3g}" for n, t in zip(names, tolerance))
        else:
            tol = ", ".join(f"{k if k != ALL else 'all'} {v:g} {u}"
                            for k, (u, v) in self.tolerance.items())
        parts = [f"within {tol} ({self.norm})"]
        if self.amplitude is not None:
            parts.append(f"contrast within {self.amplitude:.0%}")
        if self.local_residual is not None:
            blur = f" (after a {self.local_blur:g} px blur)" if self.local_blur else ""
            parts.append(f"local residual < {self.local_residual:g} of the contrast{blur}")
        if self.residual_threshold is not None:
            parts.append(f"residual < {self.residual_threshold:g}")
        return "judged " + "; ".join(parts) + f" (rule: {self.source})"

    def record(self) -> dict[str, Any]:
        """What ``metrics.json`` keeps of the rule (plain JSON values)."""
        return {"tolerance": {k: {u: v} for k, (u, v) in self.tolerance.items()},
                "norm": self.norm, "amplitude": self.amplitude,
                "local_residual": self.local_residual, "local_blur": self.local_blur,
                "residual_threshold": self.residual_threshold, "source": self.source}


def _number(value: Any, where: str, what: str, *, low: float = 0.0,
            high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not low < float(value) < high:
        raise JudgingError(f"{where}: expected {what}, got {value!r}.")
    return float(value)


def _one_tolerance(value: Any, where: str) -> tuple[str, float]:
    """``0.05`` or ``{ UNIT = VALUE }`` -> ``(unit, value)``."""
    if not isinstance(value, Mapping):
        return "range", _number(value, where, "a share of the factor's range in (0, 1), or "
                                "a table such as { resolution = 0.5 }", high=1.0)
    if len(value) != 1:
        raise JudgingError(f"{where}: expected one unit, e.g. {{ resolution = 0.5 }}, got "
                           f"{dict(value)!r}. Fix: name exactly one of {', '.join(UNITS)}.")
    unit, v = next(iter(value.items()))
    if unit not in UNITS:
        raise JudgingError(f"{where}.{unit}: unknown unit. Fix: "
                           f"{did_you_mean_hint(unit, UNITS)}use one of {', '.join(UNITS)}.")
    return unit, _number(v, f"{where}.{unit}", "a positive number",
                         high=1.0 if unit == "range" else math.inf)


def parse_judging(table: Any, names: Sequence[str], where: str = "[judging]") -> Judging:
    """Validate a suite's ``[judging]`` table against the dataset's factor ``names``;
    a :class:`JudgingError` naming the key and the fix otherwise. An empty table is the
    default rule."""
    if not isinstance(table, Mapping):
        raise JudgingError(f"{where}: expected a table, got {table!r}. Fix: write e.g. "
                           "[judging] with tolerance = { resolution = 0.5 }.")
    for key in table:
        if key not in KEYS:
            raise JudgingError(f"{where}.{key}: unknown key. Fix: "
                               f"{did_you_mean_hint(key, KEYS)}allowed: {', '.join(KEYS)}.")
    if not table:
        return Judging()
    tol: dict[str, tuple[str, float]] = {ALL: DEFAULT_TOLERANCE}
    raw = table.get("tolerance")
    if isinstance(raw, Mapping) and raw and any(k in names for k in raw):
        for name, value in raw.items():
            if name not in names:
                raise JudgingError(f"{where}.tolerance.{name}: no such factor. Fix: "
                                   f"{did_you_mean_hint(name, names)}name one of "
                                   f"{', '.join(names)}, or give one unit for all factors.")
            tol[name] = _one_tolerance(value, f"{where}.tolerance.{name}")
    elif isinstance(raw, Mapping) and raw and all(k not in UNITS for k in raw):
        key = next(iter(raw))
        raise JudgingError(f"{where}.tolerance.{key}: unknown unit and no such factor. Fix: "
                           f"{did_you_mean_hint(key, [*UNITS, *names])}give one unit for all "
                           f"factors ({', '.join(UNITS)}) or name factors "
                           f"({', '.join(names)}).")
    elif raw is not None:
        tol[ALL] = _one_tolerance(raw, f"{where}.tolerance")
    norm = table.get("norm", "max")
    if norm not in NORMS:
        raise JudgingError(f"{where}.norm: got {norm!r}. Fix: give one of {', '.join(NORMS)}.")
    checks: dict[str, float | None] = {}
    for key, default, high in (("amplitude", DEFAULT_AMPLITUDE, 1.0),
                               ("local_residual", DEFAULT_LOCAL_RESIDUAL, 1.0),
                               ("residual_threshold", None, math.inf)):
        value = table.get(key, default)
        if value is False:  # amplitude = false: not checked
            checks[key] = None
        else:
            checks[key] = None if value is None else _number(
                value, f"{where}.{key}", f"a number in (0, {high:g}), or false", high=high)
    blur = table.get("local_blur", 0.0)
    if isinstance(blur, bool) or not isinstance(blur, (int, float)) or not 0 <= blur <= 5:
        raise JudgingError(f"{where}.local_blur: got {blur!r}. Fix: give the blur's width in "
                           "pixels, a number from 0 (none, the default) to 5, e.g. 1.0.")
    return Judging(tolerance=tol, norm=str(norm), source="[judging]",
                   local_blur=float(blur), **checks)


# -- failure by depth ----------------------------------------------------------------------

#: Quantile bins of the distance from training on continuous data.
DEPTH_QUANTILES = 4


@dataclass(frozen=True)
class DepthProfile:
    """Fail rate against the distance of a request from the nearest training point.

    ``kind``: "ring" (gridded data: ring ``k`` holds the requests at a distance in
    ``(k - 1, k]`` grid steps) or "quantile" (continuous data: :data:`DEPTH_QUANTILES` bins
    of equal count); ``unit``: what the distances count ("resolution": the dataset's
    resolution, else "range": shares of each factor's range); ``names [K]`` of the bins
    (``ring1``, ..., or ``q1``, ...), their distance edges ``upper [K]``, ``bin [R]`` per
    draw (index into ``names``), ``fail [K]`` and ``draws [K]``; ``half_fail_depth``: the
    depth (ring number, or the upper distance edge of a quantile bin) up to which every
    bin fails at most half its draws (0 when the first already fails more)."""

    kind: str
    unit: str
    names: tuple[str, ...]
    upper: np.ndarray
    bin: np.ndarray
    fail: np.ndarray
    draws: np.ndarray
    half_fail_depth: float


def nearest_distance(requests: np.ndarray, train: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Euclidean distance ``[N]`` from each request ``[N, F]`` to the nearest of ``train
    [M, F]``, each factor divided by ``scale [F]`` first."""
    from scipy.spatial import cKDTree  # imported on use: importing zsbench stays light

    pts = np.unique(np.asarray(train, np.float64) / scale, axis=0)
    if len(pts) == 0:
        return np.full(len(requests), np.inf)
    return cKDTree(pts).query(np.asarray(requests, np.float64) / scale)[0]


def depth_profile(requests: np.ndarray, failed: np.ndarray, train: np.ndarray, *,
                  low: np.ndarray, spans: np.ndarray, resolution: np.ndarray) -> DepthProfile:
    """The :class:`DepthProfile` of draws asked for ``requests [R, F]`` that ``failed
    [R]``, against the training points ``train [M, F]`` of a space with lower bounds
    ``low [F]``, ranges ``spans [F]`` and the dataset's ``resolution [F]`` (NaN where it
    states none). Distances are in units of the resolution when every factor has one,
    else in shares of each range. Rings when the training points lie on the resolution's
    grid (``low + k * resolution``), else quantile bins."""
    failed = np.asarray(failed, dtype=bool)
    res = np.asarray(resolution, np.float64)
    stated = bool(np.all(np.isfinite(res) & (res > 0)))
    scale = res if stated else np.where(np.asarray(spans) > 0, spans, 1.0)
    d = nearest_distance(requests, train, scale)
    steps = (np.asarray(train, np.float64) - low) / scale
    gridded = stated and len(steps) > 0 and bool(np.all(np.abs(steps - np.rint(steps)) < 1e-6))
    if gridded:
        ring = np.maximum(np.ceil(d - 1e-6), 1.0).astype(int)
        edges = np.arange(1, int(ring.max(initial=1)) + 1, dtype=np.float64)
        bins = ring - 1
        names = tuple(f"ring{k}" for k in range(1, len(edges) + 1))
    else:
        q = np.quantile(d, np.linspace(0, 1, DEPTH_QUANTILES + 1)[1:]) if len(d) else \
            np.zeros(DEPTH_QUANTILES)
        edges = np.asarray(q, np.float64)
        bins = np.minimum(np.searchsorted(edges, d, side="left"), len(edges) - 1)
        names = tuple(f"q{k}" for k in range(1, len(edges) + 1))
    draws = np.bincount(bins, minlength=len(edges)).astype(np.float64)
    fails = np.bincount(bins, weights=failed.astype(np.float64), minlength=len(edges))
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(draws > 0, fails / np.maximum(draws, 1), np.nan)
    depth = 0.0
    for k in range(len(edges)):
        if draws[k] == 0:
            continue
        if rate[k] > 0.5:
            break
        depth = float(edges[k])
    return DepthProfile(kind="ring" if gridded else "quantile",
                        unit="resolution" if stated else "range", names=names, upper=edges,
                        bin=bins, fail=rate, draws=draws, half_fail_depth=depth)
