"""Conditional strips: a conditional generator's draws along each transect, under the exact
render of each request."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from zsbench_plugins.outputs import _plot
from zsbench_plugins.outputs.transect_strips import _point_labels

from zsbench.draws import generate_checked
from zsbench.errors import DataError, PluginParameterError
from zsbench.judging import Judging
from zsbench.plugin import EvalContext, Output, TransectEval, capable
from zsbench.recovery import (
    context_validity_threshold,
    judge_draws,
    judging_tolerance,
    verify_recover,
)
from zsbench.seeds import derive_seed

if TYPE_CHECKING:  # matplotlib is imported where it draws (slow to import; see _plot)
    from matplotlib.axes import Axes

CORRECT_COLOUR: str = "#2b8a3e"
"""A draw that is a valid image of the family at the requested factors (green)."""

WRONG_COLOUR: str = "#7048e8"
"""A valid image of the family at the wrong factors (violet: orange marks the holdout)."""

INVALID_COLOUR: str = "#c92a2a"
"""A draw that is no valid image of the family (red)."""


def outcome_colours(valid: np.ndarray, failed: np.ndarray) -> list[str]:
    """The colour of each draw ``[N]``: :data:`CORRECT_COLOUR` (valid, not failed),
    :data:`WRONG_COLOUR` (valid, failed) or :data:`INVALID_COLOUR` (not valid)."""
    return [INVALID_COLOUR if not v else WRONG_COLOUR if f else CORRECT_COLOUR
            for v, f in zip(np.asarray(valid, bool), np.asarray(failed, bool))]


class ConditionalStrips(Output):
    """Conditional strips: along each transect, the exact render of each request over the model's draws for it.

    One ``conditional_<transect>.png`` per transect of the evaluation context: the top row
    shows the exact render of each point of the transect (the request), the ``samples``
    rows below it the model's draws for that request (``generate`` with the transect's
    factors repeated ``samples`` times; one row for a model that declares itself
    deterministic, ``stochastic = False``), one column per request. Requests inside the
    holdout are framed in orange over the whole column, with orange labels. When the
    dataset can ``recover`` factors (and reads its own images back), a dot in the corner of each draw tells how the draw
    reads back, judged by the suite's ``[judging]`` rule (the rule of
    ``conditional_generation``; ``tolerance``, a share of every factor's range, overrides
    it for this picture only, and the picture then says so): green, the requested
    factors; violet, a valid image of the family at the wrong factors; red, no valid image
    of the family. Writes nothing when the suite declares no transects. RGB images
    are shown in colour, others in grey.
    """

    name = "conditional_strips"
    requires = ("model.generate",)

    def __init__(self, *, samples: int = 3, tolerance: float | None = None) -> None:
        if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= 32:
            raise PluginParameterError("output", self.name, "samples", f"got {samples!r}.",
                                       "give an integer from 1 to 32 (rows of draws).")
        if tolerance is not None and (isinstance(tolerance, bool) or not isinstance(
                tolerance, (int, float)) or not 0 < tolerance < 1):
            raise PluginParameterError("output", self.name, "tolerance", f"got {tolerance!r}.",
                                       "give a share of a factor's range in (0, 1), or leave "
                                       "it out and state the suite's [judging] tolerance.")
        self.samples = samples
        self.tolerance = tolerance

    def write(self, ctx: EvalContext, directory: Path) -> list[Path]:
        """Write one PNG per transect into ``directory``; return their paths (maybe [])."""
        written: list[Path] = []
        names = _plot.transect_file_names([te.name for te in ctx.transects], "conditional")
        for te, file_name in zip(ctx.transects, names):
            written.append(self._draw(ctx, te, Path(directory) / file_name))
        return written

    def rows(self, ctx: EvalContext) -> int:
        """Rows of draws per request: ``samples``, or 1 for a deterministic generator."""
        return self.samples if getattr(ctx.model, "stochastic", True) else 1

    def draws(self, ctx: EvalContext, te: TransectEval) -> np.ndarray:
        """The model's draws for the points of ``te``: float ``[S, P, C, H, W]`` in [0, 1]
        (``S`` = :meth:`rows`, ``P`` points), drawn in one ``generate`` call of the ``P``
        requests each repeated ``S`` times, seeded from the job's seed and the transect."""
        s = self.rows(ctx)
        factors = np.asarray(te.factors, dtype=np.float64)
        p = len(factors)
        request = np.repeat(factors, s, axis=0)
        shape = tuple(np.asarray(te.images).shape[1:])
        images = generate_checked(ctx.model, request, seed=derive_seed(
            ctx.seed, f"conditional_strips:{te.name}"), label=ctx.label, image_shape=shape,
            what=f"generate on transect {te.name!r}")
        return images.reshape(p, s, *shape).swapaxes(0, 1)

    def judging(self, ctx: EvalContext) -> Judging:
        """The rule the picture judges by: the suite's, or this output's ``tolerance``."""
        return ctx.judging.with_override(f'output "{self.name}"', tolerance=self.tolerance)

    def verdicts(self, ctx: EvalContext, te: TransectEval,
                 drawn: np.ndarray) -> dict[str, np.ndarray] | None:
        """The judged draws ``drawn [S, P, C, H, W]`` of ``te`` (``valid`` and ``failed``
        ``[S * P]``, row-major by draw row; :func:`zsbench.recovery.judge_draws` by
        :meth:`judging`), or None when the dataset cannot be trusted to read them back."""
        if not self._recover_trusted(ctx):
            return None
        s, n = drawn.shape[:2]
        flat = drawn.reshape(s * n, *drawn.shape[2:])
        return judge_draws(ctx.dataset, np.tile(np.asarray(te.factors, np.float64), (s, 1)),
                           flat.astype(np.float32), threshold=context_validity_threshold(ctx),
                           judging=self.judging(ctx))

    @staticmethod
    def _recover_trusted(ctx: EvalContext) -> bool:
        """Whether the draws can be judged: the dataset can ``recover`` and reads its own
        exact images back (:func:`zsbench.recovery.verify_recover`, memoised); otherwise
        the picture shows the draws without the corner dots."""
        if not capable(ctx.dataset, "recover"):
            return False
        try:
            verify_recover(ctx, 'output "conditional_strips"')
        except DataError:
            return False
        return True

    def _draw(self, ctx: EvalContext, te: TransectEval, path: Path) -> Path:
        truth = _plot.check_images(te.images, what=f'transect "{te.name}" images')
        n, _, h, w = truth.shape
        if n == 0:
            fig = _plot.new_figure(4.0, 1.0)
            fig.text(0.5, 0.5, f'transect "{te.name}" has no points', ha="center", va="center")
            return _plot.save_figure(fig, path)
        in_hole = np.asarray(te.in_hole, dtype=bool).reshape(-1)
        if in_hole.shape[0] != n:
            in_hole = np.zeros(n, dtype=bool)
        drawn = self.draws(ctx, te)  # [S, P, C, H, W]
        s = drawn.shape[0]
        judged = self.verdicts(ctx, te, drawn)

        pad = _plot.tile_pad(h, w)
        top = _plot.tile(truth, pad=pad)
        bottom = _plot.tile(drawn.reshape(s * n, *drawn.shape[2:]), ncols=n, pad=pad)
        cell = _plot.cell_inches(n)
        width = cell * top.shape[1] / w
        top_h = width * top.shape[0] / top.shape[1]
        bottom_h = width * bottom.shape[0] / bottom.shape[1]
        labels, caption = _point_labels(te, ctx.space)
        label_h = 0.16 * max(lbl.count("\n") + 1 for lbl in labels) + 0.12
        head = 0.62 + label_h
        fig, (ax_top, ax_draws) = _plot.column_layout(
            [top_h, bottom_h], width=width, left=1.15, right=0.3, top=head,
            bottom=0.45 if judged is not None else 0.2, gaps=[0.0, 0.14])
        _plot.show_tiles(ax_top, top)
        _plot.show_tiles(ax_draws, bottom)
        _plot.row_label(ax_top, "exact\nrender")
        _plot.row_label(ax_draws, f"draws\n({s} per\nrequest)" if s > 1 else "draw")

        centres, shown = _plot.label_columns(ax_top, labels, in_hole, w=w, pad=pad, cell=cell)
        for i in np.flatnonzero(in_hole):
            _plot.frame_tile(ax_top, _plot.tile_box(int(i), n, h, w, pad))
            x0, y0, x1, _ = _plot.tile_box(int(i), n, h, w, pad)
            _, _, _, y1 = _plot.tile_box(int((s - 1) * n + i), n, h, w, pad)
            _plot.frame_tile(ax_draws, (x0, y0, x1, y1))

        note = ""
        if judged is not None:
            colours = outcome_colours(judged["valid"], judged["failed"])
            dot = max(2.0, min(6.0, 0.12 * cell * 72))
            for k, colour in enumerate(colours):
                x0, y0, x1, _ = _plot.tile_box(k, n, h, w, pad)
                ax_draws.plot([x1 - 0.16 * w], [y0 + 0.16 * h], marker="o", markersize=dot,
                              color=colour, markeredgecolor="white", markeredgewidth=0.6,
                              linestyle="", zorder=6)
            ax_draws.set_xlim(-0.5, bottom.shape[1] - 0.5)
            ax_draws.set_ylim(bottom.shape[0] - 0.5, -0.5)
            failed = judged["failed"].reshape(s, n)
            parts = []
            for what, mask in (("inside the holdout", in_hole), ("outside", ~in_hole)):
                if mask.any():
                    parts.append(f"{what}: {int(failed[:, mask].sum())} of "
                                 f"{int(mask.sum()) * s} draws fail")
            judging = self.judging(ctx)
            parts.append(judging.describe(ctx.space.names,
                                          judging_tolerance(ctx.dataset, judging)))
            note = "; ".join(parts)
            self._legend(ax_draws)

        n_hole = int(in_hole.sum())
        hole_note = (f"; {n_hole} of {n} requests inside the holdout (orange)" if n_hole
                     else "; no request inside the holdout")
        fig_h = fig.get_size_inches()[1]
        fig.suptitle(f"{ctx.label} (seed {ctx.seed}): conditional draws along transect "
                     f"{te.name}{hole_note}", fontsize=_plot.TEXT_SIZE + 1,
                     y=1.0 - 0.1 / fig_h, va="top")
        sub = "top: the exact render of each request; below: the model's draws for it"
        if s == 1 and self.samples > 1:
            sub += " (a deterministic generator: one draw)"
        fig.text(0.5, 1.0 - 0.32 / fig_h, sub + (f". {note[0].upper()}{note[1:]}" if note else ""),
                 fontsize=_plot.TEXT_SIZE - 1, color="0.3", ha="center", va="top")
        fig.text(0.01, 1.0 - (head - 0.1) / fig_h, f"labels: {caption}",
                 fontsize=_plot.TEXT_SIZE - 1, color="0.3", va="bottom")
        return _plot.save_figure(fig, path)

    def _legend(self, ax: Axes) -> None:
        """The key of the corner dots, under the draws."""
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], marker="o", linestyle="", color=c, markersize=6, label=lbl)
                   for c, lbl in ((CORRECT_COLOUR, "reads back as requested"),
                                  (WRONG_COLOUR, "valid, factors off by more than the tolerance"),
                                  (INVALID_COLOUR, "no valid image of the family"))]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.02), ncol=3,
                  frameon=False, fontsize=_plot.TEXT_SIZE - 1, borderaxespad=0.0,
                  handletextpad=0.2, columnspacing=1.0)
