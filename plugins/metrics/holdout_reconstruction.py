"""Reconstruction error on the train, test and hole splits, and its growth with depth."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import EvalContext, Metric, Score
from zsbench_plugins.metrics._errors import (
    nan_mean,
    per_image_bce,
    per_image_frobenius,
    per_image_mse,
    split_images,
)

NAN = float("nan")
SPLITS: tuple[str, ...] = ("train", "test", "hole")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of ``x [N]`` and ``y [N]``; NaN when undefined (fewer than
    three points, or either one constant)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return NAN
    return float(spearmanr(x, y).statistic)


def depth_bin_means(values: np.ndarray, depth: np.ndarray, bins: int) -> list[float]:
    """Mean of ``values [N]`` in ``bins`` equal-width bins of ``depth [N]`` over
    ``[0, max(depth)]`` (the last bin includes the maximum; negative depths, i.e. points on
    the wrong side of the boundary by rounding, fall into bin 0). An empty bin gives NaN."""
    values = np.asarray(values, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    if values.size == 0:
        return [NAN] * bins
    top = float(depth.max())
    if top <= 0:
        idx = np.zeros(depth.shape, dtype=int)
    else:
        idx = np.clip(np.floor(depth / top * bins).astype(int), 0, bins - 1)
    return [nan_mean(values[idx == b]) for b in range(bins)]


class HoldoutReconstruction(Metric):
    """Reconstruction error (BCE, MSE, Frobenius) on train, test and hole, and versus depth.

    Scores (per image, then averaged over the split): ``<split>_bce`` (pixel-mean binary
    cross-entropy, reconstructions clipped to [1e-6, 1 - 1e-6]), ``<split>_mse`` and
    ``<split>_frob`` (Frobenius norm of reconstruction - input over C, H, W) for the splits
    train, test and hole; ``hole_test_bce_ratio`` = hole_bce / test_bce; ``hole_depth_corr``
    (Spearman correlation of per-image hole BCE with depth into the hole: an error that
    grows towards the centre is positive); ``hole_bce_depth0`` .. ``hole_bce_depth{k-1}``
    (mean hole BCE in ``depth_bins`` equal-width bins over [0, max depth], bin 0 at the
    boundary). All lower is better. Without a hole every hole score is NaN, as is an empty
    depth bin.
    """

    name = "holdout_reconstruction"

    def __init__(self, *, depth_bins: int = 3) -> None:
        """``depth_bins``: number of equal-width depth bins for ``hole_bce_depth<k>``."""
        if depth_bins < 1:
            raise PluginParameterError("metric", self.name, "depth_bins",
                                       f"must be at least 1, got {depth_bins}.",
                                       "give a positive integer, e.g. depth_bins = 3.")
        self.depth_bins = depth_bins

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        headline = {"hole_bce", "test_bce", "hole_test_bce_ratio"}
        scores: dict[str, Score] = {}
        bce: dict[str, np.ndarray | None] = {}
        for split in SPLITS:
            pair = split_images(ctx, split, required=split != "hole")
            if pair is None:
                bce[split] = None
                values = {"bce": NAN, "mse": NAN, "frob": NAN}
            else:
                x, r = pair
                bce[split] = per_image_bce(x, r)
                values = {
                    "bce": nan_mean(bce[split]),
                    "mse": nan_mean(per_image_mse(x, r)),
                    "frob": nan_mean(per_image_frobenius(x, r)),
                }
            for quantity, value in values.items():
                key = f"{split}_{quantity}"
                scores[key] = Score(value, higher_is_better=False, headline=key in headline)

        test_bce = scores["test_bce"].value
        hole_bce = scores["hole_bce"].value
        ratio = hole_bce / test_bce if np.isfinite(hole_bce) and test_bce > 0 else NAN
        scores["hole_test_bce_ratio"] = Score(ratio, higher_is_better=False, headline=True)

        hole_errors = bce["hole"]
        depth = ctx.splits["hole"].depth if hole_errors is not None else None
        if hole_errors is None or depth is None:
            corr, bins = NAN, [NAN] * self.depth_bins
        else:
            depth = np.asarray(depth, dtype=np.float64).reshape(-1)
            if depth.shape != hole_errors.shape:
                raise DataError(f'the "hole" split has {hole_errors.size} images but '
                                f"{depth.size} depths.")
            corr = spearman(hole_errors, depth)
            bins = depth_bin_means(hole_errors, depth, self.depth_bins)
        scores["hole_depth_corr"] = Score(corr, higher_is_better=False)
        for b, value in enumerate(bins):
            scores[f"hole_bce_depth{b}"] = Score(value, higher_is_better=False)
        return scores
