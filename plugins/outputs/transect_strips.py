"""Transect strips: ground truth above reconstruction along each transect."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zsbench.plugin import EvalContext, Output, TransectEval, capable
from zsbench.space import LatentSpace
from zsbench_plugins.metrics._errors import per_image_bce
from zsbench_plugins.metrics._generative import recovered
from zsbench_plugins.outputs import _plot

if TYPE_CHECKING:  # matplotlib is imported where it draws (slow to import; see _plot)
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _point_labels(te: TransectEval, space: LatentSpace) -> tuple[list[str], str]:
    """Tick labels ``[P]`` for the points of ``te`` and a caption naming what they show.

    The factors that change along the transect label each point when there are one or
    two of them; otherwise the position ``t`` in [0, 1] does."""
    factors = np.atleast_2d(np.asarray(te.factors, dtype=np.float64))
    names = space.names if factors.shape[1] == space.dim else [f"f{k}" for k in range(factors.shape[1])]
    ptp = np.ptp(factors, axis=0) if len(factors) else np.zeros(factors.shape[1])
    varying = [k for k in range(factors.shape[1]) if ptp[k] > 1e-12]
    if 1 <= len(varying) <= 2:
        labels = ["\n".join(f"{names[k]}={_plot.format_value(row[k])}" for k in varying)
                  for row in factors]
        return labels, ", ".join(names[k] for k in varying)
    return [f"{float(t):.2f}" for t in np.asarray(te.t)], "t"


def _recovered_labels(ctx: EvalContext, te: TransectEval) -> list[str] | None:
    """Labels ``[P]`` of the factors the dataset recovers from each reconstruction of
    ``te`` (the factors that vary along it, else the first two), or None when the dataset
    cannot ``recover``. The recovery is memoised under ``recover:transect:NAME``."""
    if not capable(ctx.dataset, "recover") or len(te.reconstructions) == 0:
        return None
    rec = recovered(ctx, f"transect:{te.name}", te.reconstructions)
    factors = np.atleast_2d(np.asarray(te.factors, dtype=np.float64))
    ptp = np.ptp(factors, axis=0) if len(factors) else np.zeros(ctx.space.dim)
    shown = [k for k in range(ctx.space.dim) if ptp[k] > 1e-12]
    if not 1 <= len(shown) <= 2:
        shown = list(range(min(2, ctx.space.dim)))
    names = ctx.space.names
    return ["\n".join(f"{names[k]}={_plot.format_value(row[k])}" for k in shown)
            for row in rec.factors]


class TransectStrips(Output):
    """Transect strips: ground truth over reconstruction per transect, hole points framed.

    One ``transect_<name>.png`` per transect of the evaluation context: the exact images
    along the transect in the top row, the model's reconstructions below, points inside the
    holdout framed in orange (with orange labels), and, when ``show_error`` is true, the
    per-image binary cross-entropy as a line plot aligned with the tiles. Writes nothing
    when the suite declares no transects. When the dataset can ``recover`` factors from
    images, the factors recovered from each reconstruction are printed under it, so a
    reconstruction that looks right but sits elsewhere in the space shows.
    """

    name = "transect_strips"

    def __init__(self, *, show_error: bool = True) -> None:
        self.show_error = show_error

    def write(self, ctx: EvalContext, directory: Path) -> list[Path]:
        """Write one PNG per transect into ``directory``; return their paths (maybe [])."""
        directory = Path(directory)
        written: list[Path] = []
        names = _plot.transect_file_names([te.name for te in ctx.transects], "transect")
        for te, file_name in zip(ctx.transects, names):
            written.append(self._draw(ctx, te, directory / file_name))
        return written

    def _draw(self, ctx: EvalContext, te: TransectEval, path: Path) -> Path:
        """Draw transect ``te`` into ``path`` (a note when it has no points): the two strips
        of tiles, the titles and, with ``show_error``, the error plot."""
        images = _plot.check_images(te.images, what=f'transect "{te.name}" images')
        recons = _plot.check_images(te.reconstructions,
                                    what=f'transect "{te.name}" reconstructions')
        n, _, h, w = images.shape
        if n == 0:
            fig = _plot.new_figure(4.0, 1.0)
            fig.text(0.5, 0.5, f'transect "{te.name}" has no points', ha="center", va="center")
            return _plot.save_figure(fig, path)
        in_hole = np.asarray(te.in_hole, dtype=bool).reshape(-1)
        if in_hole.shape[0] != n:
            in_hole = np.zeros(n, dtype=bool)
        pad = _plot.tile_pad(h, w)
        top_strip = _plot.tile(images, pad=pad)
        bottom_strip = _plot.tile(recons, pad=pad)
        cell = _plot.cell_inches(n)
        labels, caption = _point_labels(te, ctx.space)
        label_h = 0.16 * max(lbl.count("\n") + 1 for lbl in labels) + 0.12
        found = _recovered_labels(ctx, te)
        fig, axes = self._layout(top_strip, w=w, cell=cell, label_h=label_h, found=found)
        centres, shown = _draw_strips(axes[0], axes[1], top_strip, bottom_strip, labels, found,
                                      in_hole, h=h, w=w, pad=pad, cell=cell)
        _titles(fig, ctx, te, in_hole, label_h=label_h, caption=caption)
        if self.show_error:
            _draw_error(axes[2], te, in_hole, centres, shown, strip_width=top_strip.shape[1],
                        h=h, w=w, pad=pad)
        return _plot.save_figure(fig, path)

    def _layout(self, top_strip: np.ndarray, *, w: int, cell: float, label_h: float,
                found: list[str] | None) -> tuple[Figure, list[Axes]]:
        """The figure and its axes, top first: ground truth, reconstructions and (with
        ``show_error``) the error plot; tiles ``cell`` inches wide for ``w`` pixels of the
        tiled strip ``top_strip [H', W']``, room above for labels ``label_h`` inches high
        and room for the recovered labels ``found``."""
        width = cell * top_strip.shape[1] / w
        strip_h = width * top_strip.shape[0] / top_strip.shape[1]
        found_h = (0.16 * max(lbl.count("\n") + 1 for lbl in found) + 0.12) if found else 0.0
        heights = [strip_h, strip_h]
        gaps: list[float] = [0.0, 0.06]
        if self.show_error:
            heights.append(1.1)
            gaps.append(0.12 + found_h)
        return _plot.column_layout(heights, width=width, left=1.15, right=0.3,
                                   top=0.42 + label_h,
                                   bottom=0.5 if self.show_error else 0.15 + found_h,
                                   gaps=gaps)


def _draw_strips(ax_gt: Axes, ax_rec: Axes, top_strip: np.ndarray, bottom_strip: np.ndarray,
                 labels: list[str], found: list[str] | None, in_hole: np.ndarray, *, h: int,
                 w: int, pad: int, cell: float) -> tuple[np.ndarray, list[int]]:
    """The tiled ground truth and reconstructions (``[H', W']`` or ``[H', W', C]``) with
    the point labels on top, the recovered factors ``found`` under the reconstructions and
    the points inside the holdout (``in_hole [P]``) framed; returns the tile centres ``[P]``
    and the indices of the labelled points."""
    n = len(in_hole)
    _plot.show_tiles(ax_gt, top_strip)
    _plot.show_tiles(ax_rec, bottom_strip)
    _plot.row_label(ax_gt, "ground\ntruth")
    _plot.row_label(ax_rec, "recon-\nstruction")

    centres, shown = _plot.label_columns(ax_gt, labels, in_hole, w=w, pad=pad, cell=cell)
    if found:
        ax_rec.set_xticks(centres[shown])
        ax_rec.set_xticklabels([found[i] for i in shown], fontsize=_plot.TEXT_SIZE - 1,
                               color="#1c5fa8")
        ax_rec.tick_params(axis="x", length=2, pad=2)
        _plot.row_label(ax_rec, "recon-\nstruction\n(recovered\nfactors\nbelow)")

    for i in np.flatnonzero(in_hole):
        box = _plot.tile_box(int(i), n, h, w, pad)
        _plot.frame_tile(ax_gt, box)
        _plot.frame_tile(ax_rec, box)
    return centres, shown


def _titles(fig: Figure, ctx: EvalContext, te: TransectEval, in_hole: np.ndarray, *,
            label_h: float, caption: str) -> None:
    """The title (model, seed, transect, how many of its points ``in_hole [P]`` lie inside
    the holdout) and, above the labels, what the labels show."""
    n, n_hole = len(in_hole), int(in_hole.sum())
    hole_note = (f"; {n_hole} of {n} points inside the holdout (orange)" if n_hole
                 else "; no point inside the holdout")
    fig.suptitle(f"{ctx.label} (seed {ctx.seed}): transect {te.name}{hole_note}",
                 fontsize=_plot.TEXT_SIZE + 1, y=1.0 - 0.12 / fig.get_size_inches()[1],
                 va="top")
    fig.text(0.01, 1.0 - (0.42 + label_h - 0.1) / fig.get_size_inches()[1],
             f"labels: {caption}", fontsize=_plot.TEXT_SIZE - 1, color="0.3", va="bottom")


def _draw_error(ax_err: Axes, te: TransectEval, in_hole: np.ndarray, centres: np.ndarray,
                shown: list[int], *, strip_width: int, h: int, w: int, pad: int) -> None:
    """The per-image BCE along the transect, aligned with the tiles (``centres [P]``, the
    strip ``strip_width`` pixels wide), the points inside the holdout (``in_hole [P]``)
    banded and marked, ``t`` under the labelled points ``shown``."""
    n, n_hole = len(in_hole), int(in_hole.sum())
    bce = per_image_bce(te.images, te.reconstructions)
    xlim = (-0.5, strip_width - 0.5)
    for i in np.flatnonzero(in_hole):
        x0, _, x1, _ = _plot.tile_box(int(i), n, h, w, pad)
        # cover half the separators too, so neighbouring hole points form one band
        ax_err.axvspan(x0 - pad / 2, x1 + pad / 2, color=_plot.HOLE_COLOUR,
                       alpha=0.15, linewidth=0)
    ax_err.plot(centres, bce, color="0.25", linewidth=1.2, zorder=3)
    ax_err.scatter(centres[~in_hole], bce[~in_hole], s=16, color="0.25", zorder=4,
                   label="outside the holdout")
    if n_hole:
        ax_err.scatter(centres[in_hole], bce[in_hole], s=34, marker="D",
                       color=_plot.HOLE_COLOUR, edgecolor="black", linewidth=0.5,
                       zorder=5, label="inside the holdout")
    ax_err.set_xlim(*xlim)
    ax_err.set_xticks(centres[shown])
    ax_err.set_xticklabels([f"{float(te.t[i]):.2f}" for i in shown]
                           if len(te.t) == n else [str(i) for i in shown],
                           fontsize=_plot.TEXT_SIZE - 1)
    ax_err.tick_params(axis="both", labelsize=_plot.TEXT_SIZE - 1)
    ax_err.set_xlabel("t along the transect", fontsize=_plot.TEXT_SIZE)
    _plot.row_label(ax_err, "BCE per\nimage")
    ax_err.grid(True, axis="y", alpha=0.3)
    finite = bce[np.isfinite(bce)]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        margin = 0.1 * (hi - lo) if hi > lo else max(abs(hi) * 0.1, 1e-3)
        ax_err.set_ylim(max(0.0, lo - margin), hi + margin)
