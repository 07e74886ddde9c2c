"""Matplotlib helpers shared by the standard outputs.

Everything draws on :class:`matplotlib.figure.Figure` objects attached to an Agg canvas:
no pyplot, no global figure registry, no interactive backend. Images travel as float
``[N, C, H, W]`` in [0, 1] (as in :class:`zsbench.plugin.EvalContext`); ``C`` may be 1
(grayscale), 3 (RGB) or 4 (RGBA); other channel counts are shown as their channel mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zsbench.errors import DataError

if TYPE_CHECKING:  # matplotlib is imported where it draws: every zsbench command and
    # worker imports every plugin module, and matplotlib is slow to import
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from zsbench.plugin import EvalContext, Model

DPI: int = 110
"""Resolution of every saved picture (dots per inch)."""

CELL_INCHES: float = 0.9
"""Preferred displayed width of one image tile, in inches."""

MAX_STRIP_INCHES: float = 18.0
"""Widest a row of tiles may grow before tiles shrink below :data:`CELL_INCHES`."""

MIN_CELL_INCHES: float = 0.3
"""Narrowest a tile may be shown."""

PAD_VALUE: float = 0.5
"""Grey level of the separators between tiles (visible on black and on white images)."""

HOLE_COLOUR: str = "#e8590c"
"""Colour that marks points inside the holdout in every picture."""

TEXT_SIZE: float = 8.0
"""Default font size of labels."""


def new_figure(width: float, height: float) -> Figure:
    """A white Agg-backed :class:`Figure` of ``width`` x ``height`` inches."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(width, 1.0), max(height, 1.0)), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    """Save ``fig`` as PNG at :data:`DPI` to ``path``, release its artists, return ``path``."""
    path = Path(path)
    try:
        fig.savefig(path, dpi=DPI, format="png", facecolor="white")
    finally:
        fig.clear()
    return path


def check_images(images: np.ndarray, *, what: str = "images") -> np.ndarray:
    """Validate ``images [N, C, H, W]`` and return them as float64 clipped to [0, 1]."""
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise DataError(f"{what} must have shape [N, C, H, W], got {list(arr.shape)}.")
    arr = np.nan_to_num(arr.astype(np.float64, copy=False), nan=0.0)
    return np.clip(arr, 0.0, 1.0)


def to_display(images: np.ndarray) -> np.ndarray:
    """``[N, C, H, W]`` -> ``[N, H, W]`` (C = 1 or C not in 3, 4: channel mean) or
    ``[N, H, W, C]`` (RGB/RGBA), clipped to [0, 1]."""
    arr = check_images(images)
    c = arr.shape[1]
    if c in (3, 4):
        return np.transpose(arr, (0, 2, 3, 1))
    if c == 1:
        return arr[:, 0]
    return arr.mean(axis=1)


def tile_pad(height: int, width: int) -> int:
    """Separator width in pixels between tiles of ``height`` x ``width`` pixels."""
    return max(1, int(round(max(height, width) / 32)))


def tile(images: np.ndarray, *, ncols: int | None = None, pad: int | None = None,
         pad_value: float = PAD_VALUE) -> np.ndarray:
    """Tile ``images [N, C, H, W]`` row-major into one picture.

    ``ncols`` defaults to N (a single strip); ``pad`` (pixels between tiles) to
    :func:`tile_pad`. Returns ``[R*H + (R-1)*pad, K*W + (K-1)*pad]`` for grayscale, with a
    trailing channel axis for RGB/RGBA, where ``K = ncols`` and ``R = ceil(N / K)``; missing
    tiles of the last row are filled with ``pad_value``.
    """
    disp = to_display(images)
    n, h, w = disp.shape[:3]
    if n == 0:
        raise DataError("cannot tile an empty batch of images.")
    k = n if ncols is None else int(ncols)
    if k < 1:
        raise DataError(f"ncols must be at least 1, got {ncols}.")
    k = min(k, n)
    rows = -(-n // k)
    p = tile_pad(h, w) if pad is None else int(pad)
    extra = disp.shape[3:]
    out = np.full((rows * h + (rows - 1) * p, k * w + (k - 1) * p, *extra), pad_value,
                  dtype=np.float64)
    for i in range(n):
        r, c = divmod(i, k)
        out[r * (h + p):r * (h + p) + h, c * (w + p):c * (w + p) + w] = disp[i]
    return out


def tile_box(index: int, ncols: int, height: int, width: int, pad: int) -> tuple[float, float, float, float]:
    """Pixel edges ``(x0, y0, x1, y1)`` of tile ``index`` in a :func:`tile` picture, in
    ``imshow`` data coordinates (pixel centres at integers)."""
    r, c = divmod(int(index), int(ncols))
    x0 = c * (width + pad) - 0.5
    y0 = r * (height + pad) - 0.5
    return x0, y0, x0 + width, y0 + height


def tile_centres(count: int, size: int, pad: int) -> np.ndarray:
    """Centres ``[count]`` of consecutive tiles of ``size`` pixels along one axis."""
    return np.arange(count) * (size + pad) + (size - 1) / 2.0


def cell_inches(count: int, *, preferred: float = CELL_INCHES,
                max_total: float = MAX_STRIP_INCHES) -> float:
    """Displayed width of one tile when ``count`` tiles share a row."""
    return float(np.clip(max_total / max(count, 1), MIN_CELL_INCHES, preferred))


def show_tiles(ax: Axes, tiled: np.ndarray) -> None:
    """Draw a :func:`tile` picture on ``ax`` (gray colour map for one channel), no ticks,
    filling the axes (the caller sizes the axes to the picture's aspect)."""
    kwargs = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0} if tiled.ndim == 2 else {}
    ax.imshow(tiled, aspect="auto", **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def frame_tile(ax: Axes, box: tuple[float, float, float, float], *, colour: str = HOLE_COLOUR,
               linewidth: float = 2.0) -> None:
    """Outline one tile (``box`` from :func:`tile_box`) with a coloured frame."""
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = box
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour,
                           linewidth=linewidth, clip_on=False, zorder=5))


def column_layout(heights: Sequence[float], *, width: float, left: float = 1.1,
                  right: float = 0.25, top: float = 0.45, bottom: float = 0.2,
                  gaps: Sequence[float] | float = 0.1) -> tuple[Figure, list[Axes]]:
    """A figure with one full-width axes per entry of ``heights`` (inches), top to bottom.

    ``width`` is the axes width in inches; ``left``/``right``/``top``/``bottom`` are margins
    in inches; ``gaps`` the vertical space above each row but the first (one value or one
    per row). Returns the figure and the axes, top row first.
    """
    n = len(heights)
    if isinstance(gaps, (int, float)):
        gap_list = [0.0] + [float(gaps)] * (n - 1)
    else:
        gap_list = [0.0] + [float(g) for g in list(gaps)[1:n]]
    fig_w = left + width + right
    fig_h = top + bottom + float(sum(heights)) + float(sum(gap_list))
    fig = new_figure(fig_w, fig_h)
    fig_w, fig_h = fig.get_size_inches()
    axes: list[Axes] = []
    y = fig_h - top
    for h, g in zip(heights, gap_list):
        y -= g + h
        axes.append(fig.add_axes((left / fig_w, y / fig_h, width / fig_w, h / fig_h)))
    return fig, axes


def row_label(ax: Axes, text: str, *, colour: str = "black") -> None:
    """A horizontal label left of ``ax``."""
    ax.set_ylabel(text, rotation=0, ha="right", va="center", fontsize=TEXT_SIZE, color=colour,
                  labelpad=6)


def format_value(value: float) -> str:
    """Compact label of a factor or latent value."""
    return f"{float(value):.3g}"


def label_stride(count: int, cell: float, label_inches: float = 0.45) -> int:
    """Label every ``stride``-th tile so labels about ``label_inches`` wide never overlap."""
    return max(1, int(np.ceil(label_inches / max(cell, 1e-6))))


def decode_rows(model: Model, rows: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Decode latent rows ``[K_i, D]`` with one ``model.decode`` call; return images
    ``[K_i, C, H, W]`` (float64, clipped to [0, 1]), one array per row."""
    if not rows:
        return []
    z = np.concatenate([np.asarray(r, dtype=np.float64) for r in rows], axis=0)
    images = check_images(model.decode(z.astype(np.float32)), what="decoded images")
    if images.shape[0] != z.shape[0]:
        raise DataError(f"model.decode returned {images.shape[0]} images for {z.shape[0]} latents.")
    out: list[np.ndarray] = []
    start = 0
    for r in rows:
        out.append(images[start:start + len(r)])
        start += len(r)
    return out


def strip_rows(title: str, labels: Sequence[str], strips: Sequence[np.ndarray], path: Path, *,
               subtitle: str = "", column_labels: Sequence[str] | None = None) -> Path:
    """Stack image strips ``[K, C, H, W]`` (one per label, same K and image size) into one
    PNG at ``path``, one row each, ``labels`` at the left and optional ``column_labels [K]``
    above the first row."""
    if not strips:
        raise DataError("no image strips to draw.")
    k, _, h, w = strips[0].shape
    pad = tile_pad(h, w)
    tiled = [tile(s, pad=pad) for s in strips]
    cell = cell_inches(k)
    width = cell * tiled[0].shape[1] / w
    row_h = width * tiled[0].shape[0] / tiled[0].shape[1]
    head = 0.62 if subtitle else 0.42
    if column_labels is not None:
        head += 0.2
    left = 0.3 + 0.065 * max(max(len(line) for line in lbl.split("\n")) for lbl in labels)
    fig, axes = column_layout([row_h] * len(tiled), width=width, left=max(left, 0.9),
                              right=0.2, top=head, bottom=0.15, gaps=0.08)
    for ax, t, label in zip(axes, tiled, labels):
        show_tiles(ax, t)
        row_label(ax, label)
    if column_labels is not None:
        stride = label_stride(k, cell, 0.4)
        shown = list(range(0, k, stride))
        centres = tile_centres(k, w, pad)
        axes[0].xaxis.tick_top()
        axes[0].set_xticks(centres[shown])
        axes[0].set_xticklabels([column_labels[i] for i in shown], fontsize=TEXT_SIZE - 1)
        axes[0].tick_params(axis="x", length=2, pad=1)
    fig_h = fig.get_size_inches()[1]
    fig.suptitle(title, fontsize=TEXT_SIZE + 1, y=1.0 - 0.08 / fig_h, va="top")
    if subtitle:
        fig.text(0.5, 1.0 - 0.32 / fig_h, subtitle, fontsize=TEXT_SIZE - 1, color="0.3",
                 ha="center", va="top")
    return save_figure(fig, path)


def train_latents(ctx: EvalContext) -> np.ndarray:
    """The training latent means ``[N, D]`` (N > 0), validated."""
    if "train" not in ctx.latents:
        raise DataError('the evaluation context has no "train" latents.')
    z = np.asarray(ctx.latents["train"], dtype=np.float64)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise DataError(f"train latents must have shape [N, D] with N, D > 0, got {list(z.shape)}.")
    return z


def label_columns(ax: Any, labels: Sequence[str], in_hole: np.ndarray, *, w: int, pad: int,
                  cell: float) -> tuple[np.ndarray, list[int]]:
    """Label the columns of a strip of ``len(labels)`` tiles (``w`` pixels wide, ``pad``
    apart, ``cell`` inches each) on top of ``ax``, as many as fit, the labels of hole
    columns (``in_hole [n]``) in the hole's colour; returns the tile centres and the
    indices of the labelled columns."""
    n = len(labels)
    centres = tile_centres(n, w, pad)
    shown = list(range(0, n, label_stride(n, cell, 0.5)))
    ax.xaxis.tick_top()
    ax.set_xticks(centres[shown])
    ax.set_xticklabels([labels[i] for i in shown], fontsize=TEXT_SIZE - 1)
    ax.tick_params(axis="x", length=2, pad=2)
    for tick_label, i in zip(ax.get_xticklabels(), shown):
        if in_hole[i]:
            tick_label.set_color(HOLE_COLOUR)
            tick_label.set_fontweight("bold")
    return centres, shown


def transect_file_names(names: Sequence[str], prefix: str) -> list[str]:
    """One PNG file name per transect name, ``PREFIX_NAME.png`` with the name made file-safe,
    and ``_2``, ``_3``, ... added where two names would share a file."""
    out: list[str] = []
    for name in names:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name)) or "unnamed"
        file_name, k = f"{prefix}_{safe}.png", 2
        while file_name in out:
            file_name, k = f"{prefix}_{safe}_{k}.png", k + 1
        out.append(file_name)
    return out
