"""Error map: per-image reconstruction error over the parameter space, holdout outlined."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import EvalContext, Output
from zsbench.regions import Region
from zsbench.space import Factor, LatentSpace
from zsbench_plugins.metrics._errors import per_image_bce
from zsbench_plugins.outputs import _plot

if TYPE_CHECKING:  # matplotlib is imported where it draws (slow to import; see _plot)
    from matplotlib.axes import Axes
    from matplotlib.collections import PathCollection
    from matplotlib.colors import Normalize

_SPLIT_STYLE: dict[str, dict[str, object]] = {
    "train": {"marker": "o", "label": "train"},
    "test": {"marker": "s", "label": "test (outside the hole)"},
    "hole": {"marker": "^", "label": "hole"},
    "rim": {"marker": "v", "label": "rim (just outside the hole)"},
}
_GRID = 241


def slice_values(space: LatentSpace) -> np.ndarray:
    """The point ``[F]`` at which factors outside the plotted plane are held: the middle of
    each continuous factor's bounds, the median value of each discrete factor."""
    out = np.empty(space.dim)
    for i, f in enumerate(space.factors):
        if f.values is not None:
            vals = np.sort(np.asarray(f.values, dtype=np.float64))
            out[i] = vals[(len(vals) - 1) // 2]
        else:
            out[i] = (f.low + f.high) / 2.0
    return out


def holdout_depth_grid(region: Region, space: LatentSpace, ix: int, iy: int,
                       n: int = _GRID) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs [n], ys [n], depth [n, n])``: the holdout's signed depth on a grid over the
    bounds of factors ``ix`` (columns) and ``iy`` (rows), others at :func:`slice_values`."""
    xs = np.linspace(*space.factors[ix].bounds, n)
    ys = np.linspace(*space.factors[iy].bounds, n)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.repeat(slice_values(space)[None, :], gx.size, axis=0)
    pts[:, ix] = gx.ravel()
    pts[:, iy] = gy.ravel()
    return xs, ys, np.asarray(region.depth(pts, space), dtype=np.float64).reshape(gx.shape)


def jitter(values: np.ndarray, levels: tuple[float, ...], *, seed: int) -> np.ndarray:
    """Spread ``values [N]`` of a discrete factor with ``levels`` by a deterministic uniform
    offset of at most a quarter of the smallest gap between levels, so stacked points show."""
    lv = np.unique(np.asarray(levels, dtype=np.float64))
    gap = float(np.diff(lv).min()) if len(lv) > 1 else 1.0
    rng = np.random.default_rng(seed)
    return values + rng.uniform(-0.25 * gap, 0.25 * gap, size=len(values))


class ErrorMap(Output):
    """Error map: per-image BCE of every evaluated point in the plane of two factors.

    ``error_map.png`` scatters the train, test and hole points at their factor values
    ``(x, y)`` (default: the first two continuous factors; further factors are projected
    away), coloured by the per-image binary cross-entropy of their reconstruction. The
    holdout's boundary is drawn as the zero level of its signed depth on a fine grid, with
    the factors off the plane at their middle values, so any region shape is outlined.
    A one-factor space plots error against that factor, the holdout shaded.
    """

    name = "error_map"

    def __init__(self, *, x: str | None = None, y: str | None = None) -> None:
        self.x = x
        self.y = y

    factor_parameters = ("x", "y")

    def axes_factors(self, space: LatentSpace) -> tuple[int, int | None]:
        """Column indices of the plotted factors (``y`` is None for a 1-factor space)."""
        for key, value in (("x", self.x), ("y", self.y)):
            if value is not None and value not in space.names:
                try:
                    space.index(value)
                except DataError as err:
                    raise PluginParameterError("output", self.name, key, str(err),
                                               f"name one of: {', '.join(space.names)}.") from None
        if self.x is not None and self.x == self.y:
            raise PluginParameterError("output", self.name, "y",
                                       f'x and y are both "{self.x}".',
                                       "choose two different factors.")
        order = ([f.name for f in space.factors if not f.discrete]
                 + [f.name for f in space.factors if f.discrete])
        x = self.x if self.x is not None else next(n for n in order if n != self.y)
        if space.dim == 1:
            return space.index(x), None
        y = self.y if self.y is not None else next(n for n in order if n != x)
        return space.index(x), space.index(y)

    def write(self, ctx: EvalContext, directory: Path) -> list[Path]:
        """Write ``error_map.png`` into ``directory``; return ``[path]``."""
        ix, iy = self.axes_factors(ctx.space)
        points = _split_errors(ctx)
        norm, clipped = _colour_scale(points)

        fig = _plot.new_figure(7.6, 6.0)
        # room under the axes for the legend, above for the title and the note
        ax = fig.add_axes((0.1, 0.17, 0.68, 0.71))
        cax = fig.add_axes((0.81, 0.17, 0.025, 0.71))
        handles: list[object] = []
        sc = _scatter_points(ax, points, ctx.space, ix, iy, norm, handles)
        cb = fig.colorbar(sc, cax=cax, extend="max" if clipped else "neither")
        cb.set_label("per-image BCE" + (" (clipped at the 99th percentile)" if clipped else ""),
                     fontsize=_plot.TEXT_SIZE)
        cb.ax.tick_params(labelsize=_plot.TEXT_SIZE - 1)

        note = ""
        if ctx.holdout is not None:
            if iy is None:
                note = self._shade_1d(ax, ctx.holdout, ctx.space, ix, handles)
            else:
                note = self._outline(ax, ctx.holdout, ctx.space, ix, iy, handles)
        self._label_axes(ax, ctx.space, ix, iy)
        ax.legend(handles=handles, fontsize=_plot.TEXT_SIZE - 1, loc="upper left",
                  bbox_to_anchor=(0.0, -0.09), ncol=4, frameon=False, borderaxespad=0.0)
        title = f"{ctx.label} (seed {ctx.seed}): reconstruction error over the parameter space"
        fig.suptitle(title, fontsize=_plot.TEXT_SIZE + 2, y=0.975)
        if note:
            fig.text(0.1, 0.905, note, fontsize=_plot.TEXT_SIZE - 1, color="0.3")
        return [_plot.save_figure(fig, Path(directory) / "error_map.png")]

    def _label_axes(self, ax: Axes, space: LatentSpace, ix: int, iy: int | None) -> None:
        """Limits and names of the plotted factors (``iy`` None: the y axis is the error)."""
        fx = space.factors[ix]
        self._limits(ax, fx, "x")
        ax.set_xlabel(fx.name, fontsize=_plot.TEXT_SIZE + 1)
        if iy is not None:
            fy = space.factors[iy]
            self._limits(ax, fy, "y")
            ax.set_ylabel(fy.name, fontsize=_plot.TEXT_SIZE + 1)
        else:
            ax.set_ylabel("per-image BCE", fontsize=_plot.TEXT_SIZE + 1)
        ax.tick_params(labelsize=_plot.TEXT_SIZE)

    @staticmethod
    def _limits(ax: Axes, factor: Factor, which: str) -> None:
        """Axis limits from the factor's bounds; discrete factors get a tick per value."""
        lo, hi = factor.bounds
        if factor.values is not None:
            lv = np.unique(np.asarray(factor.values, dtype=np.float64))
            gap = float(np.diff(lv).min()) if len(lv) > 1 else 1.0
            m = 0.45 * gap
            if len(lv) <= 20:
                (ax.set_xticks if which == "x" else ax.set_yticks)(lv)
        else:
            m = 0.03 * (hi - lo) if hi > lo else 0.5
        (ax.set_xlim if which == "x" else ax.set_ylim)(lo - m, hi + m)

    @staticmethod
    def _outline(ax: Axes, region: Region, space: LatentSpace, ix: int, iy: int,
                 handles: list[object]) -> str:
        """Draw the holdout boundary in the plane; return a note for the figure."""
        from matplotlib import patheffects
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        xs, ys, depth = holdout_depth_grid(region, space, ix, iy)
        others = [i for i in range(space.dim) if i not in (ix, iy)]
        mid = slice_values(space)
        where = ", ".join(f"{space.factors[i].name}={_plot.format_value(mid[i])}" for i in others)
        suffix = f" (slice at {where}; other factors not shown)" if others else ""
        finite = depth[np.isfinite(depth)]
        if finite.size == 0:
            return "holdout: depth undefined on this plane" + suffix
        if finite.min() < 0 < finite.max():
            ax.contourf(xs, ys, depth, levels=[0.0, float(finite.max()) + 1e-12],
                        colors=[_plot.HOLE_COLOUR], alpha=0.12, zorder=1)
            cs = ax.contour(xs, ys, depth, levels=[0.0], colors=[_plot.HOLE_COLOUR],
                            linewidths=2.2, zorder=4)
            cs.set_path_effects([patheffects.Stroke(linewidth=4.0, foreground="white"),
                                 patheffects.Normal()])
            handles.append(Line2D([], [], color=_plot.HOLE_COLOUR, linewidth=2.2,
                                  label="holdout boundary"))
            return ("holdout outlined" + suffix) if others else ""
        if finite.min() >= 0:
            ax.set_facecolor((0.91, 0.35, 0.05, 0.08))
            handles.append(Patch(facecolor=_plot.HOLE_COLOUR, alpha=0.15,
                                 label="holdout (whole plane)"))
            return "the holdout covers this whole plane" + suffix
        return "the holdout does not cross this plane" + suffix

    @staticmethod
    def _shade_1d(ax: Axes, region: Region, space: LatentSpace, ix: int,
                  handles: list[object]) -> str:
        """Shade the holdout's intervals along the only factor; return a note."""
        from matplotlib.patches import Patch

        xs = np.linspace(*space.factors[ix].bounds, _GRID)
        pts = np.repeat(slice_values(space)[None, :], _GRID, axis=0)
        pts[:, ix] = xs
        inside = np.asarray(region.depth(pts, space)) >= 0
        if not inside.any():
            return "the holdout does not cross this axis"
        step = (xs[1] - xs[0]) / 2 if len(xs) > 1 else 0.0
        edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(int), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            ax.axvspan(xs[a] - step, xs[b - 1] + step, color=_plot.HOLE_COLOUR, alpha=0.15,
                       linewidth=0, zorder=1)
        handles.append(Patch(facecolor=_plot.HOLE_COLOUR, alpha=0.3, label="holdout"))
        return "holdout shaded"


def _split_errors(ctx: EvalContext) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """For each non-empty split with reconstructions (train, test, hole, rim, then the
    others by name): its name, factors ``[n, F]`` and per-image BCE ``[n]``. A DataError
    when there is none."""
    names = [s for s in _SPLIT_STYLE if s in ctx.splits] + sorted(
        s for s in ctx.splits if s not in _SPLIT_STYLE)
    points: list[tuple[str, np.ndarray, np.ndarray]] = []
    for s in names:
        split = ctx.splits[s]
        if len(split) == 0 or s not in ctx.reconstructions:
            continue
        err = per_image_bce(split.images, ctx.reconstructions[s])
        points.append((s, np.asarray(split.factors, dtype=np.float64), err))
    if not points:
        raise DataError("error_map needs at least one non-empty split with reconstructions.")
    return points


def _colour_scale(points: list[tuple[str, np.ndarray, np.ndarray]]) -> tuple[Normalize, bool]:
    """The colour scale of the errors of every split: from the smallest finite error to the
    99th percentile; and whether larger errors are clipped."""
    from matplotlib.colors import Normalize

    all_err = np.concatenate([e for _, _, e in points])
    finite = all_err[np.isfinite(all_err)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(np.percentile(finite, 99)) if finite.size else 1.0
    if hi <= lo:
        hi = lo + 1e-6
    return Normalize(lo, hi), bool(finite.size and finite.max() > hi)


def _scatter_points(ax: Axes, points: list[tuple[str, np.ndarray, np.ndarray]],
                    space: LatentSpace, ix: int, iy: int | None, norm: Normalize,
                    handles: list[object]) -> PathCollection | None:
    """Scatter each split's points at factors ``ix``, ``iy`` (``iy`` None: against their
    error), coloured by error, discrete factors jittered, the hole's larger and outlined;
    a legend handle per split goes to ``handles``. Returns the last scatter (for the
    colour bar; None without points)."""
    from matplotlib.lines import Line2D

    n_total = sum(len(e) for _, _, e in points)
    size = float(np.clip(15000.0 / max(n_total, 1), 5.0, 40.0))
    sc = None
    for s, factors, err in points:
        style = _SPLIT_STYLE.get(s, {"marker": "D", "label": s})
        is_hole = s == "hole"
        xs = factors[:, ix]
        ys = factors[:, iy] if iy is not None else err
        fx_, fy_ = space.factors[ix], space.factors[iy] if iy is not None else None
        if fx_.values is not None:
            xs = jitter(xs, fx_.values, seed=len(handles))
        if fy_ is not None and fy_.values is not None:
            ys = jitter(ys, fy_.values, seed=100 + len(handles))
        sc = ax.scatter(xs, ys, c=err, cmap="viridis", norm=norm,
                        marker=style["marker"], s=size * (1.5 if is_hole else 1.0),
                        edgecolors="black" if is_hole else "none",
                        linewidths=0.3 if is_hole else 0.0,
                        alpha=0.95 if is_hole else 0.8, zorder=3 if is_hole else 2,
                        rasterized=True)
        handles.append(Line2D([], [], marker=style["marker"], linestyle="", color="0.5",
                              markeredgecolor="black" if is_hole else "0.5",
                              markersize=6, label=f"{style['label']} ({len(err)})"))
    return sc
