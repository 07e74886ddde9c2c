"""Latent scatter: the latent means in 2-D, one panel per factor."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import EvalContext, Output
from zsbench.space import Factor
from zsbench.splits import seeded_rows
from zsbench_plugins.outputs import _plot

if TYPE_CHECKING:  # matplotlib is imported where it draws (slow to import; see _plot)
    from matplotlib.axes import Axes
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

_MAX_CATEGORIES = 10


def project(train: np.ndarray, others: list[np.ndarray],
            projection: Literal["pca", "first2"]) -> tuple[np.ndarray, list[np.ndarray], tuple[str, str | None]]:
    """Project latents ``[N, D]`` to at most 2-D.

    ``train [N, D]`` fixes the projection (PCA is fitted on it); ``others`` are projected
    the same way. Returns ``(train [N, d], others [[M, d]], (x label, y label or None))``
    with ``d = min(D, 2)``.
    """
    d = train.shape[1]
    if d == 1:
        return train, others, ("z0", None)
    if d == 2 or projection == "first2":
        return train[:, :2], [o[:, :2] for o in others], ("z0", "z1")
    finite = train[np.isfinite(train).all(axis=1)]
    if len(finite) < 2:
        return train[:, :2], [o[:, :2] for o in others], ("z0", "z1")
    mean = finite.mean(axis=0)
    _, s, vt = np.linalg.svd(finite - mean, full_matrices=False)
    var = s ** 2
    ratio = var / var.sum() if var.sum() > 0 else np.zeros_like(var)
    comps = vt[:2]
    names = (f"PC1 ({100 * ratio[0]:.0f}% var.)", f"PC2 ({100 * ratio[1]:.0f}% var.)")
    return (train - mean) @ comps.T, [(o - mean) @ comps.T for o in others], names


def factor_colouring(factor: Factor, values: np.ndarray) -> tuple[object, Normalize, list[float] | None]:
    """Colour map, norm and (for categorical factors) the category values of ``factor``."""
    from matplotlib.colors import BoundaryNorm, ListedColormap, Normalize

    if factor.discrete and factor.values is not None and len(factor.values) <= _MAX_CATEGORIES:
        cats = sorted(float(v) for v in factor.values)
        base = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
        cmap = ListedColormap(base[:len(cats)])
        edges = [cats[0] - 0.5] if len(cats) == 1 else (
            [cats[0] - (cats[1] - cats[0]) / 2]
            + [(a + b) / 2 for a, b in zip(cats[:-1], cats[1:])]
            + [cats[-1] + (cats[-1] - cats[-2]) / 2])
        if len(cats) == 1:
            edges.append(cats[0] + 0.5)
        return cmap, BoundaryNorm(edges, cmap.N), cats
    lo, hi = factor.bounds
    finite = values[np.isfinite(values)]
    if finite.size:
        lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    if hi <= lo:
        hi = lo + 1.0
    return "viridis", Normalize(lo, hi), None


class LatentScatter(Output):
    """Latent scatter: latent means of the training set (and the hole), coloured by each factor.

    ``latent_scatter.png`` has one panel per factor. Latent dimension D = 1: z0 against the
    factor; D = 2: the two latents; D > 2: the first two principal components of the
    training latents (``projection = "pca"``) or simply z0 and z1 (``"first2"``). Hole
    points, projected the same way, are drawn as black-edged triangles. At most
    ``max_points`` points per split are drawn (a deterministic subsample).
    """

    name = "latent_scatter"
    requires = ("model.encode",)

    def __init__(self, *, projection: Literal["pca", "first2"] = "pca",
                 max_points: int = 3000) -> None:
        self.projection = projection
        self.max_points = max_points
        self._check()

    def _check(self) -> None:
        if self.projection not in ("pca", "first2"):
            raise PluginParameterError("output", self.name, "projection",
                                       f"expected \"pca\" or \"first2\", got {self.projection!r}.",
                                       'use projection = "pca" or "first2".')
        if int(self.max_points) < 1:
            raise PluginParameterError("output", self.name, "max_points",
                                       f"must be at least 1, got {self.max_points}.",
                                       "use a positive number such as 3000.")

    def write(self, ctx: EvalContext, directory: Path) -> list[Path]:
        """Write ``latent_scatter.png`` into ``directory``; return ``[path]``."""
        self._check()
        if "train" not in ctx.latents or "train" not in ctx.splits:
            raise DataError('latent_scatter needs the "train" split and its latents.')
        z_train = np.asarray(ctx.latents["train"], dtype=np.float64)
        if z_train.ndim != 2 or z_train.shape[0] == 0:
            raise DataError(f"train latents must have shape [N, D] with N > 0, got "
                            f"{list(z_train.shape)}.")
        f_train = np.asarray(ctx.splits["train"].factors, dtype=np.float64)
        keep = seeded_rows(len(z_train), int(self.max_points), seed=0)
        z_train, f_train = z_train[keep], f_train[keep]

        has_hole = ("hole" in ctx.splits and "hole" in ctx.latents
                    and len(ctx.splits["hole"]) > 0)
        others: list[np.ndarray] = []
        f_hole = np.zeros((0, f_train.shape[1]))
        if has_hole:
            z_hole = np.asarray(ctx.latents["hole"], dtype=np.float64)
            f_hole = np.asarray(ctx.splits["hole"].factors, dtype=np.float64)
            keep_h = seeded_rows(len(z_hole), int(self.max_points), seed=1)
            others = [z_hole[keep_h]]
            f_hole = f_hole[keep_h]
        p_train, p_others, (xlab, ylab) = project(z_train, others, self.projection)
        p_hole = p_others[0] if p_others else None

        names = ctx.space.names
        n_f = len(names)
        ncols = min(n_f, 3)
        nrows = -(-n_f // ncols)
        panel_w, panel_h = 3.6, 3.0
        fig_w, fig_h = ncols * panel_w + 0.8, nrows * panel_h + 0.9
        fig = _plot.new_figure(fig_w, fig_h)
        title = f"{ctx.label} (seed {ctx.seed}): latent means, {len(z_train)} train points"
        if p_hole is not None:
            title += f" (dots), {len(p_hole)} hole points (triangles)"
        fig.suptitle(title, fontsize=_plot.TEXT_SIZE + 1)
        grid = fig.add_gridspec(nrows, ncols, left=0.65 / fig_w, right=1 - 0.7 / fig_w,
                                top=1 - 0.65 / fig_h, bottom=0.5 / fig_h,
                                wspace=0.45, hspace=0.5)
        for k, fname in enumerate(names):
            ax = fig.add_subplot(grid[k // ncols, k % ncols])
            self._panel(ax, fig, ctx.space.factors[k], p_train, f_train[:, k],
                        p_hole, f_hole[:, k] if p_hole is not None else None, xlab, ylab)
        return [_plot.save_figure(fig, Path(directory) / "latent_scatter.png")]

    def _panel(self, ax: Axes, fig: Figure, factor: Factor, p_train: np.ndarray,
               c_train: np.ndarray, p_hole: np.ndarray | None, c_hole: np.ndarray | None,
               xlab: str, ylab: str | None) -> None:
        """One panel: points ``[N, d]`` coloured by the factor values ``[N]``."""
        from matplotlib.lines import Line2D

        cmap, norm, cats = factor_colouring(factor, np.concatenate(
            [c_train, c_hole if c_hole is not None else np.zeros(0)]))

        def coords(p: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return (p[:, 0], p[:, 1]) if p.shape[1] > 1 else (p[:, 0], c)

        x, y = coords(p_train, c_train)
        size = float(np.clip(3000.0 / max(len(x), 1), 3.0, 25.0))
        sc = ax.scatter(x, y, c=c_train, cmap=cmap, norm=norm, s=size, alpha=0.75,
                        linewidths=0, rasterized=True)
        if p_hole is not None and c_hole is not None and len(p_hole):
            hx, hy = coords(p_hole, c_hole)
            ax.scatter(hx, hy, c=c_hole, cmap=cmap, norm=norm, s=max(size * 1.6, 14.0),
                       marker="^", edgecolors="black", linewidths=0.5, zorder=3)
        ax.set_title(factor.name, fontsize=_plot.TEXT_SIZE + 1)
        ax.set_xlabel(xlab, fontsize=_plot.TEXT_SIZE)
        ax.set_ylabel(ylab if ylab is not None else factor.name, fontsize=_plot.TEXT_SIZE)
        ax.tick_params(labelsize=_plot.TEXT_SIZE - 1)
        if cats is not None:
            handles = [Line2D([], [], marker="o", linestyle="", markersize=6,
                              color=sc.cmap(sc.norm(v)), label=_plot.format_value(v))
                       for v in cats]
            ax.legend(handles=handles, title=factor.name, fontsize=_plot.TEXT_SIZE - 1,
                      title_fontsize=_plot.TEXT_SIZE - 1, loc="best", framealpha=0.7)
        else:
            cb = fig.colorbar(sc, ax=ax, fraction=0.05, pad=0.02)
            cb.ax.tick_params(labelsize=_plot.TEXT_SIZE - 1)
            if cb.solids is not None:
                cb.solids.set_alpha(1.0)
