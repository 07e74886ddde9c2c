"""Conditional scatter: where a conditional generator's draws land, read back exactly, against
where they were asked for; and the per-draw table."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from zsbench_plugins.metrics.conditional_generation import Draws, plugin_judging, split_draws
from zsbench_plugins.outputs import _plot
from zsbench_plugins.outputs.conditional_strips import (
    CORRECT_COLOUR,
    INVALID_COLOUR,
    WRONG_COLOUR,
)
from zsbench_plugins.outputs.error_map import ErrorMap, jitter

from zsbench.errors import PluginParameterError
from zsbench.judging import Judging
from zsbench.plugin import EvalContext, Output
from zsbench.recovery import judging_tolerance
from zsbench.regions import Region
from zsbench.space import LatentSpace

if TYPE_CHECKING:  # matplotlib is imported where it draws (slow to import; see _plot)
    from matplotlib.axes import Axes

SPLITS: tuple[str, ...] = ("hole", "rim", "test")
_MARKERS: dict[str, str] = {"hole": "^", "rim": "v", "test": "s", "train": "o"}
PANEL_INCHES: float = 4.6
"""Side of one square panel."""
MAX_COLUMNS: int = 3
"""Panels per row of the picture."""


def default_pair(space: LatentSpace, holdout: Region | None) -> tuple[int, int | None]:
    """The factor columns of the default panel: the factors the holdout constrains (in the
    space's order, continuous ones first), then the other continuous factors, then the
    discrete ones; the first two of that order. ``(i, None)`` for a one-factor space."""
    constrained = holdout.factor_names() if holdout is not None else set()
    order = sorted(range(space.dim), key=lambda i: (space.names[i] not in constrained,
                                                    space.factors[i].discrete, i))
    return (order[0], None) if space.dim == 1 else (order[0], order[1])


class ConditionalScatter(Output):
    """Conditional scatter: each draw's recovered factors against its request, hole outlined; and the per-draw table.

    ``conditional_scatter.png``: one panel per pair of factors (``pairs``, default the two
    factors the holdout constrains, else the first two continuous ones). Each request of
    the ``splits`` (default hole, rim and test) is a small grey marker (shape by split);
    each of its draws is a segment from the request to the factors the dataset recovers
    from the draw, green when the draw reads back as requested, violet when it is a valid
    image of the family at the wrong factors, and a red cross at the request when it is no
    valid image of the family: judged by the suite's ``[judging]`` rule, the rule of
    ``conditional_generation`` (``tolerance``, a share of every factor's range, and
    ``residual_threshold`` override it for this picture only; the picture then says so). The
    holdout is outlined as in ``error_map`` (other factors held at their middle values).
    A one-factor space plots the recovered value against the requested one.

    ``conditional_requests.csv``: one row per draw: ``split``, ``request`` (row of the
    split), ``draw`` (0..samples-1), ``requested_F`` and ``recovered_F`` per factor ``F``,
    ``residual`` (recovery RMS pixel difference), ``valid`` and ``failed`` (1/0) and
    ``mse`` (pixel MSE against the exact render of the request).

    The draws are those of the ``conditional_generation`` metric (shared, not drawn twice)
    when ``samples``, ``max_requests``, ``tolerance`` and ``residual_threshold`` equal the
    metric's; the defaults are the metric's defaults. The picture states the rule.
    """

    name = "conditional_scatter"
    requires = ("model.generate", "dataset.recover")
    split_parameters = ("splits",)

    def __init__(self, *, splits: list[str] = list(SPLITS),  # noqa: B006
                 pairs: list[list[str]] | None = None, samples: int = 4,
                 max_requests: int | None = 256, tolerance: float | None = None,
                 residual_threshold: float | None = None) -> None:
        checks = (
            ("splits", splits, isinstance(splits, list) and len(splits) > 0
             and all(isinstance(s, str) for s in splits), "a non-empty list of split names"),
            ("pairs", pairs, pairs is None or (
                isinstance(pairs, list) and len(pairs) > 0 and all(
                    isinstance(p, (list, tuple)) and len(p) == 2
                    and all(isinstance(n, str) for n in p) and p[0] != p[1] for p in pairs)),
             'a list of pairs of two different factor names, e.g. [["a", "b"]]'),
            ("samples", samples, isinstance(samples, int) and not isinstance(samples, bool)
             and samples >= 1, "an integer >= 1"),
            ("max_requests", max_requests, max_requests is None or (
                isinstance(max_requests, int) and not isinstance(max_requests, bool)
                and max_requests >= 1), "an integer >= 1"),
            ("tolerance", tolerance, tolerance is None or (
                isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool)
                and 0 < tolerance < 1), "a share of a factor's range in (0, 1), or leave it "
             "out and state the suite's [judging] tolerance"),
            ("residual_threshold", residual_threshold, residual_threshold is None or (
                isinstance(residual_threshold, (int, float))
                and not isinstance(residual_threshold, bool) and residual_threshold > 0),
             "a positive RMS pixel difference, or leave it out"),
        )
        for key, value, ok, what in checks:
            if not ok:
                raise PluginParameterError("output", self.name, key, f"got {value!r}.",
                                           f"give {what}.")
        self.splits = splits
        self.pairs = pairs
        self.samples = samples
        self.max_requests = max_requests
        self.tolerance = tolerance
        self.residual_threshold = residual_threshold

    def panels(self, space: LatentSpace, holdout: Region | None) -> list[tuple[int, int | None]]:
        """Factor columns ``(x, y)`` of each panel (``y`` None for a one-factor space)."""
        if self.pairs is None:
            return [default_pair(space, holdout)]
        out: list[tuple[int, int | None]] = []
        for pair in self.pairs:
            for n in pair:
                if n not in space.names:
                    raise PluginParameterError("output", self.name, "pairs",
                                               f'"{n}" is not a factor of this dataset.',
                                               f"name factors among: {', '.join(space.names)}.")
            out.append((space.index(pair[0]), space.index(pair[1])))
        return out

    def draws(self, ctx: EvalContext) -> dict[str, Draws]:
        """The :class:`Draws` of each of ``splits`` the context has (memoised, shared with
        the ``conditional_generation`` metric when the parameters agree)."""
        out: dict[str, Draws] = {}
        for split in self.splits:
            d = split_draws(ctx, split, samples=self.samples, max_requests=self.max_requests,
                            judging=self.judging(ctx))
            if d is not None:
                out[split] = d
        return out

    def judging(self, ctx: EvalContext) -> Judging:
        """The rule the picture judges by: the suite's, or this output's override."""
        return plugin_judging(ctx, f'output "{self.name}"', self.tolerance,
                              self.residual_threshold)

    def write(self, ctx: EvalContext, directory: Path) -> list[Path]:
        """Write ``conditional_scatter.png`` and ``conditional_requests.csv`` into
        ``directory``; return their paths ([] when none of ``splits`` has points)."""
        panels = self.panels(ctx.space, ctx.holdout)
        draws = self.draws(ctx)
        if not draws:
            return []
        table = self.write_table(ctx.space, draws, Path(directory) / "conditional_requests.csv")
        return [self._picture(ctx, draws, panels, Path(directory) / "conditional_scatter.png"),
                table]

    def write_table(self, space: LatentSpace, draws: dict[str, Draws], path: Path) -> Path:
        """One CSV row per draw of every split in ``draws``; returns ``path``."""
        names = space.names
        header = ["split", "request", "draw", *(f"requested_{n}" for n in names),
                  *(f"recovered_{n}" for n in names), "residual", "valid", "failed", "mse"]
        with Path(path).open("w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(header)
            for split, d in draws.items():
                draw_index = _draw_index(d.request)
                for k in range(len(d.request)):
                    out.writerow([split, int(d.request[k]), int(draw_index[k]),
                                  *(repr(float(v)) for v in d.factors[k]),
                                  *(repr(float(v)) for v in d.found[k]),
                                  repr(float(d.residual[k])), int(bool(d.valid[k])),
                                  int(bool(d.failed[k])), repr(float(d.mse[k]))])
        return Path(path)

    def _picture(self, ctx: EvalContext, draws: dict[str, Draws],
                 panels: list[tuple[int, int | None]], path: Path) -> Path:
        n = len(panels)
        ncols = min(n, MAX_COLUMNS)
        nrows = -(-n // ncols)
        legend_cols = 2 if ncols == 1 else 4
        legend_rows = -(-(len(draws) + 4) // legend_cols)
        left, right, gap_x, gap_y = 0.75, 0.25, 0.75, 0.65
        fig_w = left + ncols * PANEL_INCHES + (ncols - 1) * gap_x + right
        stats = []
        for split, d in draws.items():
            reqs = len(np.unique(d.request))
            stats.append(f"{split} {reqs}\u00d7{self.samples}: fail {d.failed.mean():.0%}, "
                         f"invalid {(~d.valid).mean():.0%}")
        width_chars = int((fig_w - left - right) * 15)
        judging = self.judging(ctx)
        rule = judging.describe(ctx.space.names, judging_tolerance(ctx.dataset, judging))
        lines = textwrap.wrap("draws (requests\u00d7samples): " + "; ".join(stats) + "; "
                              + rule, width_chars)
        line_h = 0.16
        # room for the holdout note (a slice note, in more than two dimensions)
        head_lines = len(lines) + (0 if ctx.holdout is None else 1 if ctx.space.dim <= 2 else 2)
        top, legend_h = 0.55 + line_h * head_lines, 0.6 + 0.19 * legend_rows
        fig_h = top + nrows * PANEL_INCHES + (nrows - 1) * gap_y + legend_h
        fig = _plot.new_figure(fig_w, fig_h)
        handles: list[object] = []
        notes: list[str] = []
        for k, (ix, iy) in enumerate(panels):
            r, c = divmod(k, ncols)
            x0 = left + c * (PANEL_INCHES + gap_x)
            y0 = fig_h - top - (r + 1) * PANEL_INCHES - r * gap_y
            ax = fig.add_axes((x0 / fig_w, y0 / fig_h, PANEL_INCHES / fig_w,
                               PANEL_INCHES / fig_h))
            panel_handles: list[object] = []
            note = self._panel(ctx, ax, draws, ix, iy, panel_handles)
            if k == 0:
                handles = panel_handles
            if note and note not in notes:
                notes.append(note)
        fig.legend(handles=handles, fontsize=_plot.TEXT_SIZE - 1, loc="upper left",
                   bbox_to_anchor=(left / fig_w, (legend_h - 0.5) / fig_h),
                   ncol=legend_cols, frameon=False, borderaxespad=0.0,
                   handletextpad=0.3, columnspacing=1.0)
        fig.suptitle(f"{ctx.label} (seed {ctx.seed}): conditional draws, read back, against "
                     "their requests", fontsize=_plot.TEXT_SIZE + 2, y=1.0 - 0.12 / fig_h,
                     va="top")
        text = "\n".join([*lines, *textwrap.wrap("; ".join(notes), width_chars)])
        fig.text(left / fig_w, 1.0 - 0.42 / fig_h, text, fontsize=_plot.TEXT_SIZE - 1,
                 color="0.3", va="top", linespacing=1.35)
        return _plot.save_figure(fig, path)

    def _panel(self, ctx: EvalContext, ax: Axes, draws: dict[str, Draws], ix: int,
               iy: int | None, handles: list[object]) -> str:
        """Draw one panel; collect legend handles; return a note about the holdout."""
        from matplotlib.collections import LineCollection
        from matplotlib.lines import Line2D

        space = ctx.space
        fx = space.factors[ix]
        fy = space.factors[iy] if iy is not None else None
        total = sum(len(d.request) for d in draws.values())
        dot = float(np.clip(6000.0 / max(total, 1), 3.0, 16.0))
        counts = {"correct": 0, "wrong": 0, "invalid": 0}
        groups: dict[str, list[np.ndarray]] = {"correct": [], "wrong": [], "invalid": []}
        for s_i, (split, d) in enumerate(draws.items()):
            req_x = d.factors[:, ix].astype(np.float64)
            got_x = d.found[:, ix].astype(np.float64)
            if iy is None:  # one factor: recovered against requested
                req_y, got_y = req_x.copy(), got_x
                got_x = req_x.copy()
            else:
                req_y = d.factors[:, iy].astype(np.float64)
                got_y = d.found[:, iy].astype(np.float64)
            if fx.values is not None:  # the same offset at both ends keeps a segment's length
                off = jitter(np.zeros(len(req_x)), fx.values, seed=11 + s_i)
                req_x, got_x = req_x + off, got_x + off
            if fy is not None and fy.values is not None:
                off = jitter(np.zeros(len(req_y)), fy.values, seed=23 + s_i)
                req_y, got_y = req_y + off, got_y + off
            first = np.unique(d.request, return_index=True)[1]
            marker = _MARKERS.get(split, "D")
            ax.scatter(req_x[first], req_y[first], s=dot, c="0.5", marker=marker,
                       linewidths=0, zorder=4, rasterized=True)  # over the segments
            handles.append(Line2D([], [], marker=marker, linestyle="", color="0.55",
                                  markersize=5, label=f"{split} request ({len(first)})"))
            kinds = {"correct": d.valid & ~d.failed, "wrong": d.valid & d.failed,
                     "invalid": ~d.valid}
            for kind, mask in kinds.items():
                counts[kind] += int(mask.sum())
                groups[kind].append(np.stack([req_x[mask], req_y[mask], got_x[mask],
                                              got_y[mask]], axis=1))
        # segments under the requests, recovered ends over them, invalid crosses on top
        style = {"correct": (CORRECT_COLOUR, 3.0, "reads back as requested"),
                 "wrong": (WRONG_COLOUR, 3.5, "valid, wrong factors"),
                 "invalid": (INVALID_COLOUR, 6.0, "no valid image (at its request)")}
        for kind in ("correct", "wrong"):
            colour, z, label = style[kind]
            seg = np.concatenate(groups[kind]) if groups[kind] else np.zeros((0, 4))
            if len(seg):
                ax.add_collection(LineCollection(seg.reshape(-1, 2, 2), colors=colour,
                                                 linewidths=0.8, alpha=0.75, zorder=z))
                ax.scatter(seg[:, 2], seg[:, 3], s=dot * (0.45 if kind == "correct" else 0.8),
                           c=colour, linewidths=0, alpha=0.9, zorder=z + 2, rasterized=True)
            handles.append(Line2D([], [], marker="o", markersize=5, color=colour,
                                  linewidth=1.0, label=f"{label} ({counts[kind]})"))
        colour, z, label = style["invalid"]
        bad = np.concatenate(groups["invalid"]) if groups["invalid"] else np.zeros((0, 4))
        ax.scatter(bad[:, 0], bad[:, 1], s=dot * 2.5, c=colour, marker="x", linewidths=1.0,
                   zorder=z, rasterized=True)
        handles.append(Line2D([], [], marker="x", linestyle="", color=colour, markersize=6,
                              label=f"{label} ({counts['invalid']})"))
        note = ""
        if iy is None:
            lo, hi = fx.bounds
            ax.plot([lo, hi], [lo, hi], color="0.6", linewidth=0.8, linestyle=":", zorder=1)
            if ctx.holdout is not None:
                note = ErrorMap._shade_1d(ax, ctx.holdout, space, ix, handles)
            ErrorMap._limits(ax, fx, "x")
            ErrorMap._limits(ax, fx, "y")
            ax.set_xlabel(f"requested {fx.name}", fontsize=_plot.TEXT_SIZE + 1)
            ax.set_ylabel(f"recovered {fx.name}", fontsize=_plot.TEXT_SIZE + 1)
        else:
            if ctx.holdout is not None:
                note = ErrorMap._outline(ax, ctx.holdout, space, ix, iy, handles)
            ErrorMap._limits(ax, fx, "x")
            ErrorMap._limits(ax, fy, "y")  # type: ignore[arg-type]
            ax.set_xlabel(fx.name, fontsize=_plot.TEXT_SIZE + 1)
            ax.set_ylabel(fy.name, fontsize=_plot.TEXT_SIZE + 1)  # type: ignore[union-attr]
        ax.tick_params(labelsize=_plot.TEXT_SIZE)
        return note


def _draw_index(request: np.ndarray) -> np.ndarray:
    """The position ``[R]`` of each draw among the draws of its request (0, 1, ...)."""
    request = np.asarray(request)
    out = np.zeros(len(request), dtype=int)
    seen: dict[int, int] = {}
    for k, r in enumerate(request.tolist()):
        out[k] = seen.get(r, 0)
        seen[r] = out[k] + 1
    return out
