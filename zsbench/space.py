"""Latent (parameter) spaces: named factors, continuous or discrete, with sampling.

Factor values always travel as a float64 array ``[N, F]`` whose columns follow
``LatentSpace.names``; a discrete factor's column holds its values (e.g. 2.0 and 200.0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from zsbench.errors import DataError, did_you_mean


@dataclass(frozen=True)
class Factor:
    """One factor: continuous within ``[low, high]``, or discrete with ``values``."""

    name: str
    low: float = 0.0
    high: float = 1.0
    values: tuple[float, ...] | None = None
    description: str = ""

    @property
    def discrete(self) -> bool:
        return self.values is not None

    @property
    def bounds(self) -> tuple[float, float]:
        if self.values is not None:
            return (float(min(self.values)), float(max(self.values)))
        return (float(self.low), float(self.high))

    @property
    def span(self) -> float:
        low, high = self.bounds
        return high - low


@dataclass(frozen=True)
class LatentSpace:
    """An ordered set of named factors."""

    factors: tuple[Factor, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {f.name: i for i, f in enumerate(self.factors)})

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.factors]

    @property
    def dim(self) -> int:
        return len(self.factors)

    def __getitem__(self, name: str) -> Factor:
        return self.factors[self.index(name)]

    def index(self, name: str) -> int:
        if name not in self._index:
            guess = did_you_mean(name, self.names)
            hint = f' Did you mean "{guess}"?' if guess else ""
            raise DataError(
                f'unknown factor "{name}".{hint} This space has: {", ".join(self.names)}.'
            )
        return self._index[name]

    def point(self, values: Mapping[str, float], *, fill: Mapping[str, float] | None = None) -> np.ndarray:
        """A full point ``[F]`` from named values; missing factors come from ``fill``
        or the middle of their bounds."""
        for name in values:
            self.index(name)
        out = np.empty(self.dim)
        for i, f in enumerate(self.factors):
            if f.name in values:
                out[i] = float(values[f.name])
            elif fill is not None and f.name in fill:
                out[i] = float(fill[f.name])
            else:
                out[i] = sum(f.bounds) / 2.0
        return out

    def contains(self, factors: np.ndarray, *, atol: float = 1e-9) -> np.ndarray:
        """Bool mask ``[N]``: which rows of ``factors [N, F]`` lie in the space."""
        factors = np.atleast_2d(np.asarray(factors, dtype=np.float64))
        ok = np.ones(len(factors), dtype=bool)
        for i, f in enumerate(self.factors):
            col = factors[:, i]
            if f.values is not None:
                ok &= np.isclose(col[:, None], np.asarray(f.values)[None, :], atol=atol).any(axis=1)
            else:
                ok &= (col >= f.low - atol) & (col <= f.high + atol)
        return ok

    def sample_uniform(self, n: int, *, rng: np.random.Generator) -> np.ndarray:
        """``[n, F]`` points drawn uniformly (discrete factors: uniformly over values)."""
        out = np.empty((n, self.dim))
        for i, f in enumerate(self.factors):
            if f.values is not None:
                out[:, i] = rng.choice(np.asarray(f.values, dtype=np.float64), size=n)
            else:
                out[:, i] = rng.uniform(f.low, f.high, size=n)
        return out

    def grid(self, points_per_factor: int | Sequence[int]) -> np.ndarray:
        """Regular grid ``[prod(k), F]`` (discrete factors use all their values)."""
        if isinstance(points_per_factor, int):
            points_per_factor = [points_per_factor] * self.dim
        axes = []
        for f, k in zip(self.factors, points_per_factor):
            if f.values is not None:
                axes.append(np.asarray(f.values, dtype=np.float64))
            else:
                axes.append(np.linspace(f.low, f.high, int(k)))
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)

    def check(self, factors: np.ndarray, *, what: str = "factors") -> np.ndarray:
        """Validate the shape ``[N, F]`` and range of ``factors``; returns them as float64."""
        arr = np.asarray(factors, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise DataError(
                f"{what} must have shape [N, {self.dim}] (columns {', '.join(self.names)}), "
                f"got {list(arr.shape)}."
            )
        bad = ~self.contains(arr)
        if bad.any():
            row = arr[np.argmax(bad)]
            described = ", ".join(f"{n}={v:g}" for n, v in zip(self.names, row))
            raise DataError(
                f"{int(bad.sum())} {what} lie outside the latent space, e.g. ({described}); "
                f"bounds: {self.describe()}."
            )
        return arr

    def describe(self) -> str:
        parts = []
        for f in self.factors:
            if f.values is not None:
                parts.append(f"{f.name} in {{{', '.join(f'{v:g}' for v in f.values)}}}")
            else:
                parts.append(f"{f.name} in [{f.low:g}, {f.high:g}]")
        return "; ".join(parts)
