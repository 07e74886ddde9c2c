"""Coverage map: recovered factors of prior samples over the parameter space, hole outlined."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zsbench.plugin import EvalContext, Output
from zsbench_plugins.metrics._generative import PRIOR_SAMPLES, require
from zsbench_plugins.metrics.prior_coverage import hole_share_of_space, prior_recovery
from zsbench_plugins.outputs import _plot
from zsbench_plugins.outputs.error_map import ErrorMap, jitter


class CoverageMap(Output):
    """Coverage map: where the model's prior samples land in the parameter space.

    ``coverage_map.png`` draws ``n_samples`` prior samples at the factors the dataset
    recovers from them, in the plane of two factors (``x``/``y``, default the first two
    continuous ones), valid samples as dots (orange inside the holdout) and samples that
    are no valid image of the family (recovery residual at or over the threshold, as in the
    ``prior_coverage`` metric) as grey crosses; the holdout is outlined as in ``error_map``.
    Uses the same memoised samples as ``prior_coverage`` when the parameters match.
    """

    name = "coverage_map"
    requires = ("model.sample", "dataset.recover")

    def __init__(self, *, x: str | None = None, y: str | None = None,
                 n_samples: int = PRIOR_SAMPLES, residual_threshold: float | None = None) -> None:
        self.x = x
        self.y = y
        self.n_samples = n_samples
        self.residual_threshold = residual_threshold

    def write(self, ctx: EvalContext, directory: Path) -> list[Path]:
        """Write ``coverage_map.png`` into ``directory``; return ``[path]``."""
        from matplotlib.lines import Line2D  # on use: slow to import (see _plot)

        require(ctx.model, "sample", "model", 'output "coverage_map"')
        require(ctx.dataset, "recover", "dataset", 'output "coverage_map"')
        geometry = ErrorMap(x=self.x, y=self.y)
        ix, iy = geometry.axes_factors(ctx.space)
        pr = prior_recovery(ctx, self.n_samples, self.residual_threshold)
        fig = _plot.new_figure(7.0, 6.0)
        ax = fig.add_axes((0.11, 0.17, 0.84, 0.71))
        handles: list[object] = []
        xs = pr.factors[:, ix]
        ys = pr.factors[:, iy] if iy is not None else pr.residual
        fx = ctx.space.factors[ix]
        fy = ctx.space.factors[iy] if iy is not None else None
        if fx.values is not None:
            xs = jitter(xs, fx.values, seed=1)
        if fy is not None and fy.values is not None:
            ys = jitter(ys, fy.values, seed=2)
        size = float(np.clip(12000.0 / max(len(xs), 1), 4.0, 30.0))
        groups = (
            (pr.valid & ~pr.in_hole, "#1c7ed6", "o", "valid sample"),
            (pr.in_hole, _plot.HOLE_COLOUR, "o", "valid sample in the hole"),
            (~pr.valid, "0.55", "x", "not a valid image"),
        )
        for mask, colour, marker, label in groups:
            ax.scatter(xs[mask], ys[mask], s=size, c=colour, marker=marker, alpha=0.7,
                       linewidths=0.8 if marker == "x" else 0.0, zorder=3, rasterized=True)
            handles.append(Line2D([], [], marker=marker, linestyle="", color=colour,
                                  markersize=6, label=f"{label} ({int(mask.sum())})"))
        note = ""
        if ctx.holdout is not None:
            if iy is None:
                note = ErrorMap._shade_1d(ax, ctx.holdout, ctx.space, ix, handles)
            else:
                note = ErrorMap._outline(ax, ctx.holdout, ctx.space, ix, iy, handles)
        ErrorMap._limits(ax, fx, "x")
        ax.set_xlabel(fx.name, fontsize=_plot.TEXT_SIZE + 1)
        if fy is not None:
            ErrorMap._limits(ax, fy, "y")
            ax.set_ylabel(fy.name, fontsize=_plot.TEXT_SIZE + 1)
        else:
            ax.set_ylabel("recovery residual", fontsize=_plot.TEXT_SIZE + 1)
        ax.tick_params(labelsize=_plot.TEXT_SIZE)
        ax.legend(handles=handles, fontsize=_plot.TEXT_SIZE - 1, loc="upper left",
                  bbox_to_anchor=(0.0, -0.09), ncol=2, frameon=False, borderaxespad=0.0)
        n = len(pr.factors)
        share = hole_share_of_space(ctx)
        stats = (f"{n} prior samples; in the hole {pr.in_hole.mean():.1%}"
                 + (f" (the hole is {share:.1%} of the space)" if np.isfinite(share) else "")
                 + f"; invalid {(~pr.valid).mean():.1%} (residual >= {pr.threshold:.3g})"
                 if n else "no prior samples")
        fig.suptitle(f"{ctx.label} (seed {ctx.seed}): prior samples over the parameter space",
                     fontsize=_plot.TEXT_SIZE + 2, y=0.975)
        fig.text(0.11, 0.905, stats + (f"; {note}" if note else ""),
                 fontsize=_plot.TEXT_SIZE - 1, color="0.3")
        return [_plot.save_figure(fig, Path(directory) / "coverage_map.png")]
