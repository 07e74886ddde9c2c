"""Traversal: one latent swept with the others fixed, and 2-D grids over pairs of latents."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Literal

import numpy as np

from zsbench.errors import PluginParameterError
from zsbench.plugin import EvalContext, Output
from zsbench_plugins.outputs import _plot

MAX_DEFAULT_PAIRS = 6
"""Grids drawn when ``pairs`` is not given: the first pairs (i < j) in order, at most this many."""


def sweep_latents(center: np.ndarray, k: int, values: np.ndarray) -> np.ndarray:
    """``[V, D]``: copies of ``center [D]`` with latent ``k`` set to each of ``values [V]``."""
    z = np.repeat(np.asarray(center, dtype=np.float64)[None, :], len(values), axis=0)
    z[:, k] = values
    return z


def grid_latents(center: np.ndarray, i: int, j: int, values: np.ndarray) -> np.ndarray:
    """``[G*G, D]`` row-major for :func:`_plot.tile` with ``ncols = G``: column ``c`` sets
    latent ``i`` to ``values[c]`` (increasing left to right), row ``r`` sets latent ``j`` to
    ``values[G-1-r]`` (increasing bottom to top); other latents stay at ``center [D]``."""
    g = len(values)
    z = np.repeat(np.asarray(center, dtype=np.float64)[None, :], g * g, axis=0)
    cols, rows = np.meshgrid(np.arange(g), np.arange(g))
    z[:, i] = np.asarray(values)[cols.ravel()]
    z[:, j] = np.asarray(values)[::-1][rows.ravel()]
    return z


class Traversal(Output):
    """Traversal: decoded sweeps of each latent (one row per latent) and 2-D latent grids (E5).

    ``traversal.png``: row ``k`` sets latent ``k`` to ``steps`` values from ``-limit`` to
    ``+limit`` (absolute latent values, as for a standard-normal prior) with the other
    latents at 0 (``center = "zero"``) or at the mean of the training latents (``"mean"``).
    ``traversal_grid_<i>_<j>.png``: a ``grid`` x ``grid`` mosaic over latents ``i``
    (left to right) and ``j`` (bottom to top) for each pair of ``pairs`` (default: all
    pairs, at most six). Everything is decoded with ``ctx.model.decode``.
    """

    name = "traversal"
    requires = ("model.encode", "model.decode")

    def __init__(self, *, center: Literal["zero", "mean"] = "zero", steps: int = 11,
                 grid: int = 9, limit: float = 2.0,
                 pairs: list[list[int]] | None = None) -> None:
        self.center = center
        self.steps = steps
        self.grid = grid
        self.limit = limit
        self.pairs = pairs
        self._check()

    def _fail(self, key: str, problem: str, fix: str) -> PluginParameterError:
        return PluginParameterError("output", self.name, key, problem, fix)

    def resolved_pairs(self, d: int) -> list[tuple[int, int]]:
        """The latent pairs to draw grids for, validated against latent dimension ``d``."""
        if self.pairs is None:
            return list(combinations(range(d), 2))[:MAX_DEFAULT_PAIRS]
        out: list[tuple[int, int]] = []
        for p in self.pairs:
            if (len(p) != 2 or p[0] == p[1]
                    or not all(isinstance(i, int) and 0 <= i < d for i in p)):
                raise self._fail("pairs", f"each pair must be two different latent indices in "
                                          f"[0, {d - 1}], got {p}.",
                                 f"use pairs such as [[0, 1]] (this model has {d} latent "
                                 f"dimensions).")
            out.append((int(p[0]), int(p[1])))
        return out

    def _check(self) -> None:
        if self.center not in ("zero", "mean"):
            raise self._fail("center", f'expected "zero" or "mean", got {self.center!r}.',
                             'use center = "zero" or "mean".')
        if int(self.steps) < 2:
            raise self._fail("steps", f"must be at least 2, got {self.steps}.", "use e.g. 11.")
        if int(self.grid) < 2:
            raise self._fail("grid", f"must be at least 2, got {self.grid}.", "use e.g. 9.")
        if not float(self.limit) > 0:
            raise self._fail("limit", f"must be positive, got {self.limit}.", "use e.g. 2.0.")

    def center_point(self, ctx: EvalContext) -> np.ndarray:
        """The latent ``[D]`` that the fixed latents keep."""
        z = _plot.train_latents(ctx)
        return z.mean(axis=0) if self.center == "mean" else np.zeros(z.shape[1])

    def write(self, ctx: EvalContext, directory: Path) -> list[Path]:
        """Write ``traversal.png`` and the grids into ``directory``; return their paths."""
        self._check()
        directory = Path(directory)
        c = self.center_point(ctx)
        d = len(c)
        pairs = self.resolved_pairs(d)
        lim = float(self.limit)
        values = np.linspace(-lim, lim, int(self.steps))
        rows = [sweep_latents(c, k, values) for k in range(d)]
        strips = _plot.decode_rows(ctx.model, rows)
        fixed = "0" if self.center == "zero" else "the mean of the training latents"
        written = [_plot.strip_rows(
            f"{ctx.label} (seed {ctx.seed}): latent traversals",
            [f"z{k}" for k in range(d)], strips, directory / "traversal.png",
            subtitle=f"one latent swept from {-lim:g} to {lim:g}, the others fixed at {fixed}",
            column_labels=[_plot.format_value(v) for v in values],
        )]
        gvalues = np.linspace(-lim, lim, int(self.grid))
        for i, j in pairs:
            images = _plot.decode_rows(ctx.model, [grid_latents(c, i, j, gvalues)])[0]
            written.append(self._draw_grid(ctx, images, i, j, gvalues, fixed,
                                           directory / f"traversal_grid_{i}_{j}.png"))
        return written

    def _draw_grid(self, ctx: EvalContext, images: np.ndarray, i: int, j: int,
                   values: np.ndarray, fixed: str, path: Path) -> Path:
        """One mosaic of ``images [G*G, C, H, W]`` (row-major, see :func:`grid_latents`)."""
        g = len(values)
        _, _, h, w = images.shape
        pad = _plot.tile_pad(h, w)
        tiled = _plot.tile(images, ncols=g, pad=pad)
        cell = _plot.cell_inches(g, max_total=10.0)
        width = cell * tiled.shape[1] / w
        height = width * tiled.shape[0] / tiled.shape[1]
        fig, (ax,) = _plot.column_layout([height], width=width, left=0.75, right=0.2,
                                         top=0.6, bottom=0.55)
        _plot.show_tiles(ax, tiled)
        stride = _plot.label_stride(g, cell, 0.4)
        shown = list(range(0, g, stride))
        xc = _plot.tile_centres(g, w, pad)
        yc = _plot.tile_centres(g, h, pad)
        ax.set_xticks(xc[shown])
        ax.set_xticklabels([_plot.format_value(values[k]) for k in shown],
                           fontsize=_plot.TEXT_SIZE - 1)
        ax.set_yticks(yc[shown])
        ax.set_yticklabels([_plot.format_value(values[::-1][k]) for k in shown],
                           fontsize=_plot.TEXT_SIZE - 1)
        ax.tick_params(length=2, pad=1)
        ax.set_xlabel(f"z{i}", fontsize=_plot.TEXT_SIZE + 1)
        ax.set_ylabel(f"z{j}", fontsize=_plot.TEXT_SIZE + 1)
        fig_h = fig.get_size_inches()[1]
        fig.suptitle(f"{ctx.label} (seed {ctx.seed}): latents z{i} × z{j}",
                     fontsize=_plot.TEXT_SIZE + 1, y=1.0 - 0.08 / fig_h, va="top")
        fig.text(0.5, 1.0 - 0.32 / fig_h, f"other latents fixed at {fixed}",
                 fontsize=_plot.TEXT_SIZE - 1, color="0.3", ha="center", va="top")
        return _plot.save_figure(fig, path)
