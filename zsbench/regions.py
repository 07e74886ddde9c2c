"""Holdout regions over named factors, in any dimension, and transects across a space.

A region answers two questions about points ``[N, F]`` of a :class:`LatentSpace`:
``contains`` (bool ``[N]``) and ``depth`` (float ``[N]``: signed distance into the region,
positive inside, negative outside, zero on the boundary; distances are measured in the
region's own, possibly scaled, units). Factors a region does not name are unconstrained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zsbench.errors import DataError
from zsbench.space import LatentSpace


def _vector(space: LatentSpace, values: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of a named partial point."""
    idx = np.array([space.index(k) for k in values], dtype=int)
    vals = np.array([float(v) for v in values.values()], dtype=np.float64)
    return idx, vals


BOUNDARY_TOL = 1e-12


class Region:
    """Base class of holdout regions."""

    def depth(self, factors: np.ndarray, space: LatentSpace) -> np.ndarray:
        """Signed depth ``[N]`` of ``factors [N, F]`` into the region (>0 inside)."""
        raise NotImplementedError

    def contains(self, factors: np.ndarray, space: LatentSpace) -> np.ndarray:
        """Bool mask ``[N]``: rows of ``factors [N, F]`` inside the region (boundary included,
        up to floating-point rounding)."""
        return self.depth(factors, space) >= -BOUNDARY_TOL

    def factor_names(self) -> set[str]:
        """Names of the factors this region constrains."""
        raise NotImplementedError

    def anchor(self) -> dict[str, float] | None:
        """A representative inner point (for transects through the region), if any."""
        return None

    def __or__(self, other: Region) -> Region:
        return Union((self, other))

    def __and__(self, other: Region) -> Region:
        return Intersection((self, other))

    def __invert__(self) -> Region:
        return Complement(self)


def _scaled(space: LatentSpace, factors: np.ndarray, center: Mapping[str, float],
            scale: Mapping[str, float] | None) -> np.ndarray:
    idx, c = _vector(space, center)
    s = np.array([float((scale or {}).get(k, 1.0)) for k in center], dtype=np.float64)
    x = np.atleast_2d(np.asarray(factors, dtype=np.float64))[:, idx]
    return (x - c) / s


@dataclass(frozen=True)
class Ball(Region):
    """Points within ``radius`` of ``center``; ``scale`` divides each factor's offset first
    (an ellipsoid in raw units)."""

    center: Mapping[str, float]
    radius: float
    scale: Mapping[str, float] | None = None

    def depth(self, factors: np.ndarray, space: LatentSpace) -> np.ndarray:
        r = np.linalg.norm(_scaled(space, factors, self.center, self.scale), axis=1)
        return self.radius - r

    def factor_names(self) -> set[str]:
        return set(self.center)

    def anchor(self) -> dict[str, float]:
        return dict(self.center)


@dataclass(frozen=True)
class Annulus(Region):
    """Points whose (scaled) distance to ``center`` lies in ``[inner, outer]``."""

    center: Mapping[str, float]
    inner: float
    outer: float
    scale: Mapping[str, float] | None = None

    def depth(self, factors: np.ndarray, space: LatentSpace) -> np.ndarray:
        r = np.linalg.norm(_scaled(space, factors, self.center, self.scale), axis=1)
        return np.minimum(r - self.inner, self.outer - r)

    def factor_names(self) -> set[str]:
        return set(self.center)

    def anchor(self) -> dict[str, float]:
        return dict(self.center)


@dataclass(frozen=True)
class Box(Region):
    """Axis-aligned box ``low <= x <= high`` on the named factors.

    A zero-width side (``low = high``, allowed for discrete factors) selects that one
    value: it decides membership but not the depth, which the other sides measure (a box
    of zero-width sides only has depth 0 inside)."""

    low: Mapping[str, float]
    high: Mapping[str, float]

    def depth(self, factors: np.ndarray, space: LatentSpace) -> np.ndarray:
        idx, lo = _vector(space, self.low)
        _, hi = _vector(space, {k: self.high[k] for k in self.low})
        x = np.atleast_2d(np.asarray(factors, dtype=np.float64))[:, idx]
        margin = np.minimum(x - lo, hi - x)
        point = hi == lo
        if point.any():
            off = np.abs(x[:, point] - lo[point])
            margin[:, point] = np.where(off <= 1e-9, np.inf, -off)
        inside_margin = margin.min(axis=1)
        inside_margin[np.isposinf(inside_margin)] = 0.0
        outside = np.linalg.norm(np.maximum(0.0, np.maximum(lo - x, x - hi)), axis=1)
        return np.where(inside_margin >= 0, inside_margin, -outside)

    def factor_names(self) -> set[str]:
        return set(self.low)

    def anchor(self) -> dict[str, float]:
        return {k: (self.low[k] + self.high[k]) / 2.0 for k in self.low}


@dataclass(frozen=True)
class HalfSpace(Region):
    """Points with ``sum_k normal[k] * x[k] >= offset``."""

    normal: Mapping[str, float]
    offset: float = 0.0

    def depth(self, factors: np.ndarray, space: LatentSpace) -> np.ndarray:
        idx, n = _vector(space, self.normal)
        x = np.atleast_2d(np.asarray(factors, dtype=np.float64))[:, idx]
        return (x @ n - self.offset) / np.linalg.norm(n)

    def factor_names(self) -> set[str]:
        return set(self.normal)


@dataclass(frozen=True)
class Union(Region):
    """Points in any of ``regions``."""

    regions: tuple[Region, ...]

    def depth(self, factors: np.ndarray, space: LatentSpace) -> np.ndarray:
        return np.max([r.depth(factors, space) for r in self.regions], axis=0)

    def factor_names(self) -> set[str]:
        return set().union(*(r.factor_names() for r in self.regions))

    def anchor(self) -> dict[str, float] | None:
        return self.regions[0].anchor()


@dataclass(frozen=True)
class Intersection(Region):
    """Points in every one of ``regions``."""

    regions: tuple[Region, ...]

    def depth(self, factors: np.ndarray, space: LatentSpace) -> np.ndarray:
        return np.min([r.depth(factors, space) for r in self.regions], axis=0)

    def factor_names(self) -> set[str]:
        return set().union(*(r.factor_names() for r in self.regions))

    def anchor(self) -> dict[str, float] | None:
        return self.regions[0].anchor()


@dataclass(frozen=True)
class Complement(Region):
    """Points outside ``region``."""

    region: Region

    def depth(self, factors: np.ndarray, space: LatentSpace) -> np.ndarray:
        return -self.region.depth(factors, space)

    def contains(self, factors: np.ndarray, space: LatentSpace) -> np.ndarray:
        return self.depth(factors, space) > BOUNDARY_TOL

    def factor_names(self) -> set[str]:
        return self.region.factor_names()


@dataclass(frozen=True)
class Transect:
    """``points [P, F]``: equally spaced points on a straight segment, ``t [P]`` in [0, 1]."""

    name: str
    points: np.ndarray
    t: np.ndarray

    @classmethod
    def between(cls, name: str, start: np.ndarray, end: np.ndarray, n: int) -> Transect:
        t = np.linspace(0.0, 1.0, int(n))
        start = np.asarray(start, dtype=np.float64)
        end = np.asarray(end, dtype=np.float64)
        return cls(name=name, points=start[None, :] + t[:, None] * (end - start)[None, :], t=t)

    @classmethod
    def through(cls, name: str, space: LatentSpace, center: np.ndarray, direction: np.ndarray,
                n: int) -> Transect:
        """The segment through ``center [F]`` along ``direction [F]``, clipped to the
        bounds of the space."""
        center = np.asarray(center, dtype=np.float64)
        direction = np.asarray(direction, dtype=np.float64)
        if not np.any(direction):
            raise DataError(f'transect "{name}": the direction is the zero vector.')
        t_lo, t_hi = -np.inf, np.inf
        for i, f in enumerate(space.factors):
            if direction[i] == 0:
                continue
            lo, hi = f.bounds
            a, b = (lo - center[i]) / direction[i], (hi - center[i]) / direction[i]
            t_lo, t_hi = max(t_lo, min(a, b)), min(t_hi, max(a, b))
        if not t_lo <= 0 <= t_hi:
            raise DataError(f'transect "{name}": its centre lies outside the space.')
        return cls.between(name, center + t_lo * direction, center + t_hi * direction, n)

    @property
    def spacing(self) -> np.ndarray:
        """Distances ``[P-1]`` between consecutive points."""
        return np.linalg.norm(np.diff(self.points, axis=0), axis=1)


REGION_SHAPES: dict[str, tuple[type[Region], dict[str, str]]] = {
    "ball": (Ball, {"center": "table", "radius": "number", "scale": "table?"}),
    "annulus": (Annulus, {"center": "table", "inner": "number", "outer": "number",
                          "scale": "table?"}),
    "box": (Box, {"low": "table", "high": "table"}),
    "halfspace": (HalfSpace, {"normal": "table", "offset": "number?"}),
    "union": (Union, {"regions": "regions"}),
    "intersection": (Intersection, {"regions": "regions"}),
    "complement": (Complement, {"region": "region"}),
}


def region_from_config(cfg: Mapping[str, Any], build: Any) -> Region:
    """Build a region from an already validated table; ``build`` builds nested tables."""
    shape = cfg["shape"]
    if shape == "ball":
        return Ball(dict(cfg["center"]), float(cfg["radius"]), cfg.get("scale"))
    if shape == "annulus":
        return Annulus(dict(cfg["center"]), float(cfg["inner"]), float(cfg["outer"]),
                       cfg.get("scale"))
    if shape == "box":
        return Box(dict(cfg["low"]), dict(cfg["high"]))
    if shape == "halfspace":
        return HalfSpace(dict(cfg["normal"]), float(cfg.get("offset", 0.0)))
    if shape == "union":
        return Union(tuple(build(r, i) for i, r in enumerate(cfg["regions"])))
    if shape == "intersection":
        return Intersection(tuple(build(r, i) for i, r in enumerate(cfg["regions"])))
    if shape == "complement":
        return Complement(build(cfg["region"], None))
    raise ValueError(shape)


def union_of(regions: Sequence[Region]) -> Region | None:
    """The union of several holdouts (None when there are none)."""
    if not regions:
        return None
    return regions[0] if len(regions) == 1 else Union(tuple(regions))


#: Rim candidates drawn per hole point before matching depths.
RIM_CANDIDATES = 4


def _draw_on_lattice(space: LatentSpace, n: int, rng: np.random.Generator,
                     lattice: np.ndarray | None) -> np.ndarray:
    """``n`` points ``[n, F]`` uniform over ``space``; a factor with a finite ``lattice``
    step is drawn uniformly from its grid ``low + k * step`` within the bounds instead."""
    batch = space.sample_uniform(n, rng=rng)
    steps = np.full(space.dim, np.nan) if lattice is None else np.asarray(lattice, float)
    for j, step in enumerate(steps):
        if np.isfinite(step) and step > 0 and not space.factors[j].discrete:
            low, high = space.factors[j].bounds
            count = int(np.floor((high - low) / step + 1e-9)) + 1
            batch[:, j] = low + step * rng.integers(0, count, size=n)
    return batch


def rim_points(region: Region, space: LatentSpace, hole_depth: np.ndarray, *,
               rng: np.random.Generator, cap: int | None = None,
               lattice: np.ndarray | None = None) -> np.ndarray:
    """Fresh points ``[M, F]`` just outside ``region``: the hole's control ("rim").

    The hole's depth distribution ``hole_depth [N]`` (>= 0) mirrored outward: points are
    drawn uniformly over ``space`` from ``rng``, those at depth in ``[-max(hole_depth), 0)``
    are kept, and for each hole depth ``d`` the unused candidate whose depth is closest to
    ``-d`` is taken (so ``M = N``, or ``cap`` when smaller: a seeded subset of the depths).
    Fewer points come back when the space leaves little room outside the region.
    ``lattice [F]`` (a dataset's :attr:`~zsbench.plugin.Dataset.lattice`): a factor with a
    finite step is drawn on its grid, so the rim's requests are of the hole's kind (integer
    bump centres where the hole's are integers)."""
    targets = np.asarray(hole_depth, dtype=np.float64).reshape(-1)
    if len(targets) == 0:
        return np.empty((0, space.dim))
    if cap is not None and cap < len(targets):
        targets = targets[np.sort(rng.choice(len(targets), size=int(cap), replace=False))]
    top = max(float(np.max(targets)), 1e-9)
    want = RIM_CANDIDATES * len(targets)
    found: list[np.ndarray] = []
    have = 0
    for _ in range(200):  # rejection sampling, bounded for a space mostly inside the region
        batch = _draw_on_lattice(space, max(4 * want, 1024), rng, lattice)
        d = region.depth(batch, space)
        keep = batch[(d < -1e-9) & (d >= -top)]
        found.append(keep)
        have += len(keep)
        if have >= want:
            break
    cand = np.concatenate(found)[:want]
    if len(cand) == 0:
        return np.empty((0, space.dim))
    cand_depth = region.depth(cand, space)
    used = np.zeros(len(cand), dtype=bool)
    chosen: list[int] = []
    for d in targets:  # greedy: the unused candidate with depth closest to -d
        gap = np.abs(cand_depth + d)
        gap[used] = np.inf
        j = int(np.argmin(gap))
        if not np.isfinite(gap[j]):
            break
        used[j] = True
        chosen.append(j)
    return cand[np.asarray(chosen, dtype=int)]
