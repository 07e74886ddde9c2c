"""Conditional depth: the hole's fail rate against the distance of a request from the nearest
training point, and the table behind it."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from zsbench_plugins.metrics.conditional_generation import (
    ConditionalGeneration,
    hole_depth,
)
from zsbench_plugins.outputs import _plot

from zsbench.errors import PluginParameterError
from zsbench.plugin import EvalContext, Output
from zsbench.recovery import judging_tolerance


class ConditionalDepth(Output):
    """Conditional depth: the hole's fail rate ring by ring from the training region (rings of the grid step, or distance quartiles).

    ``conditional_depth.png``: one bar per ring (gridded data: requests at a distance in
    (K - 1, K] grid steps from the nearest training point) or distance quartile
    (continuous data), its height the share of the hole's draws that fail there, the
    number of draws under it, and a line at ``hole_half_fail_depth`` (the depth up to
    which every ring fails at most half its draws). ``conditional_depth.csv``: ``bin``,
    ``upper_distance``, ``draws``, ``fail_rate``. The draws and their verdicts are those
    of ``conditional_generation`` (shared, not drawn twice: the hole draws the metric
    made for this job under the suite's ``[judging]`` rule, whatever its ``samples`` and
    ``max_requests``); only without them are ``samples`` and ``max_requests`` used to
    draw (the defaults are the metric's defaults)."""

    name = "conditional_depth"
    requires = ("model.generate", "dataset.recover")

    def __init__(self, *, samples: int = 4, max_requests: int | None = 256) -> None:
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise PluginParameterError("output", self.name, "samples", f"got {samples!r}.",
                                       "give an integer >= 1 (the metric's samples).")
        if max_requests is not None and (isinstance(max_requests, bool) or not isinstance(
                max_requests, int) or max_requests < 1):
            raise PluginParameterError("output", self.name, "max_requests",
                                       f"got {max_requests!r}.", "give an integer >= 1.")
        self.samples = samples
        self.max_requests = max_requests

    def write(self, ctx: EvalContext, directory: Path) -> list[Path]:
        """Write ``conditional_depth.png`` and ``.csv``; [] without a hole or training."""
        metric = ConditionalGeneration(splits=["hole"], samples=self.samples,
                                       max_requests=self.max_requests)
        shared = [k for k in ctx.memo if k.startswith("conditional:hole:")
                  and str(ctx.judging.record()) in k]
        draws = ctx.memo[shared[0]] if shared else metric.draws(ctx, "hole")
        profile = None if draws is None else hole_depth(ctx, draws)
        if profile is None:
            return []
        directory = Path(directory)
        table = directory / "conditional_depth.csv"
        with table.open("w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(["bin", "upper_distance", "draws", "fail_rate"])
            for k, name in enumerate(profile.names):
                out.writerow([name, repr(float(profile.upper[k])), int(profile.draws[k]),
                              repr(float(profile.fail[k]))])
        n = len(profile.names)
        fig = _plot.new_figure(max(4.0, 0.45 * n + 1.5), 3.2)
        ax = fig.add_axes((0.14, 0.2, 0.82, 0.6))
        x = np.arange(n)
        ax.bar(x, np.nan_to_num(profile.fail), color=_plot.HOLE_COLOUR, alpha=0.8)
        for k in range(n):
            ax.text(k, 0.02, f"{int(profile.draws[k])}", ha="center", va="bottom",
                    fontsize=_plot.TEXT_SIZE - 1, color="white")
        ax.axhline(0.5, color="0.5", linestyle=":", linewidth=0.8)
        ax.set_xticks(x, labels=[f"{u:.3g}" for u in profile.upper],
                      fontsize=_plot.TEXT_SIZE)
        unit = "grid steps" if profile.unit == "resolution" else "range shares"
        ax.set_xlabel(f"distance from the nearest training point ({unit}; "
                      f"{'ring' if profile.kind == 'ring' else 'quartile upper edge'})",
                      fontsize=_plot.TEXT_SIZE)
        ax.set_ylabel("hole fail rate", fontsize=_plot.TEXT_SIZE)
        ax.set_ylim(0, 1.05)
        ax.tick_params(labelsize=_plot.TEXT_SIZE)
        judging = metric.judging(ctx)
        rule = judging.describe(ctx.space.names, judging_tolerance(ctx.dataset, judging))
        fig.suptitle(f"{ctx.label} (seed {ctx.seed}): where in the hole the draws fail",
                     fontsize=_plot.TEXT_SIZE + 1, y=0.97)
        fig.text(0.14, 0.86, f"drawn right to depth {profile.half_fail_depth:g} "
                 f"(hole_half_fail_depth); {rule}", fontsize=_plot.TEXT_SIZE - 2, color="0.3",
                 wrap=True)
        return [_plot.save_figure(fig, directory / "conditional_depth.png"), table]
