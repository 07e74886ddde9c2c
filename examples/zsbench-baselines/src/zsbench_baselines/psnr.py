"""The ``pixel_psnr`` metric: peak signal-to-noise ratio of reconstructions per split."""

from __future__ import annotations

import numpy as np

from zsbench import EvalContext, Metric, Score
from zsbench.errors import PluginParameterError

SPLITS = ("train", "validation", "test", "hole")
NAN = float("nan")


def per_image_psnr(images: np.ndarray, reconstructions: np.ndarray, max_db: float) -> np.ndarray:
    """PSNR in dB ``[N]`` of ``reconstructions`` against ``images`` (both ``[N, C, H, W]``
    in [0, 1], peak 1): ``10 log10(1 / MSE)``, capped at ``max_db`` (a perfect copy)."""
    x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    r = np.asarray(reconstructions, dtype=np.float64).reshape(len(reconstructions), -1)
    mse = ((x - r) ** 2).mean(axis=1)
    floor = 10.0 ** (-max_db / 10.0)
    return 10.0 * np.log10(1.0 / np.maximum(mse, floor))


class PixelPSNR(Metric):
    """Pixel PSNR (dB) of reconstructions on each split, and the gap from test to hole.

    Scores: ``<split>_psnr`` (mean over the split's images of the per-image PSNR, peak 1,
    capped at ``max_db``; higher is better) for each of ``splits``, NaN where the split is
    absent or empty (no hole); ``hole_test_psnr_gap`` = test_psnr - hole_psnr, how many dB
    are lost inside the hole (lower is better), when both splits are measured.
    """

    name = "pixel_psnr"

    def __init__(self, *, splits: list[str] = ["test", "hole"],  # noqa: B006 (never mutated)
                 max_db: float = 100.0) -> None:
        unknown = [s for s in splits if s not in SPLITS]
        if unknown or not splits:
            raise PluginParameterError("metric", self.name, "splits", f"got {splits!r}.",
                                       f"choose among {', '.join(SPLITS)}.")
        if not max_db > 0:
            raise PluginParameterError("metric", self.name, "max_db", f"got {max_db!r}.",
                                       "give a positive number of dB, e.g. 100.")
        self.splits = splits
        self.max_db = max_db

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        scores: dict[str, Score] = {}
        for split in self.splits:
            value = NAN
            if split in ctx.splits and len(ctx.splits[split]):
                psnr = per_image_psnr(ctx.splits[split].images, ctx.reconstructions[split],
                                      float(self.max_db))
                value = float(psnr.mean())
            scores[f"{split}_psnr"] = Score(value, higher_is_better=True,
                                            headline=split in ("test", "hole"))
        if "test" in self.splits and "hole" in self.splits:
            gap = scores["test_psnr"].value - scores["hole_psnr"].value
            scores["hole_test_psnr_gap"] = Score(float(gap), higher_is_better=False)
        return scores
