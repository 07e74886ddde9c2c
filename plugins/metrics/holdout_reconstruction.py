"""Reconstruction error on the train, test, rim and hole splits, net of the BCE floor, and
its growth with depth."""

from __future__ import annotations

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import EvalContext, Metric, Score, SuitePlan
from zsbench_plugins.metrics._errors import (
    RIM_CONTROL_LIMIT,
    draw_rows,
    mean_score,
    nan_mean,
    per_image_bce,
    per_image_excess_bce,
    per_image_frobenius,
    per_image_intensity_error,
    per_image_mse,
    per_image_peak_error,
    ratio_score,
    split_images,
)

NAN = float("nan")
SPLITS: tuple[str, ...] = ("train", "test", "rim", "hole")
QUANTITIES: tuple[str, ...] = ("bce", "excess_bce", "mse", "frob", "intensity_err", "peak_err")
#: The leaderboard's default columns among these scores.
HEADLINE: frozenset[str] = frozenset({"hole_excess_bce", "hole_rim_excess_ratio",
                                      "test_peak_err"})


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of ``x [N]`` and ``y [N]``; NaN when undefined (fewer than
    three points, or either one constant)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return NAN
    from scipy.stats import spearmanr  # on use: slow to import

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


def depth_bin_items(values: np.ndarray, depth: np.ndarray, bins: int) -> list[np.ndarray]:
    """Per bin of :func:`depth_bin_means`, ``values [N]`` with NaN outside the bin: the
    per-item values of the bin's mean (an empty bin is all NaN: its mean is NaN)."""
    values = np.asarray(values, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    if values.size == 0:
        return [values.copy() for _ in range(bins)]
    top = float(depth.max())
    if top <= 0:
        idx = np.zeros(depth.shape, dtype=int)
    else:
        idx = np.clip(np.floor(depth / top * bins).astype(int), 0, bins - 1)
    return [np.where(idx == b, values, np.nan) for b in range(bins)]


class HoldoutReconstruction(Metric):
    """Reconstruction error on train, test, rim and hole, net of the BCE floor, and vs depth.

    Scores per split ``s`` in train, test, rim (fresh points just outside the hole at the
    hole's depths) and hole, per image then averaged over the split: ``s_bce`` (pixel-mean
    binary cross-entropy, reconstructions clipped to [1e-6, 1 - 1e-6]), ``s_excess_bce``
    (BCE minus the target's own pixel-mean binary entropy: the part a perfect model would
    not pay; raw BCE on thin-line images mostly counts the ink), ``s_mse``, ``s_frob``
    (Frobenius norm of reconstruction - input over C, H, W), ``s_intensity_err``
    (``|sum(reconstruction) / sum(input) - 1|``: the total ink) and ``s_peak_err``
    (``|max(reconstruction) - max(input)|``: the brightest pixel; a dimmed decoder always
    shows here, while a blurred one that over-inks may look *better* dimmed in the total).

    Headline: ``hole_rim_excess_ratio`` = hole_excess_bce / rim_excess_bce (the hole
    against its own surroundings: about 1 when the model draws the hole as well as the
    rim), ``hole_excess_bce`` and ``test_peak_err``. Also
    ``hole_test_excess_ratio`` and ``hole_test_bce_ratio`` (against the whole test split),
    ``hole_depth_corr`` (Spearman correlation of per-image hole excess BCE with depth into
    the hole: an error that grows towards the centre is positive) and
    ``hole_excess_bce_depth0`` .. ``hole_excess_bce_depth{k-1}`` (mean in ``depth_bins``
    equal-width bins over [0, max depth], bin 0 at the boundary). All lower is better.
    Without a hole (or rim) those scores are NaN, as is an empty depth bin.

    Every score but ``hole_depth_corr`` is a mean over images and carries its per-image
    values (the ratios both groups), so each gets a bootstrap interval. The three ratios
    declare ``target = 1`` (as good in the hole as next to it; the leaderboard ranks by the
    distance to 1) and the control split's ``fail_rate`` (``factor_recovery``) as their
    control: at most ``RIM_CONTROL_LIMIT`` for the ratio to be ranked.
    """

    name = "holdout_reconstruction"

    def __init__(self, *, depth_bins: int = 3, max_draws: int | None = 500) -> None:
        """``depth_bins``: number of equal-width depth bins for ``hole_excess_bce_depth<k>``.
        ``max_draws``: of a conditional generator (whose reconstructions are draws, a full
        sampler run each), the most images of a split scored, evenly spaced (None: all);
        an autoencoder's splits are always scored whole."""
        if depth_bins < 1:
            raise PluginParameterError("metric", self.name, "depth_bins",
                                       f"must be at least 1, got {depth_bins}.",
                                       "give a positive integer, e.g. depth_bins = 3.")
        if max_draws is not None and max_draws < 1:
            raise PluginParameterError("metric", self.name, "max_draws",
                                       f"must be at least 1, got {max_draws}.",
                                       "give a positive integer, e.g. max_draws = 500, "
                                       "or leave it out to score every image.")
        self.depth_bins = depth_bins
        self.max_draws = max_draws

    def score_names(self, plan: SuitePlan) -> list[str]:
        names = [f"{split}_{q}" for split in SPLITS
                 for q in ("bce", "excess_bce", "mse", "frob", "intensity_err", "peak_err")]
        depth = [f"hole_excess_bce_depth{b}" for b in range(self.depth_bins)]
        return [*names, "hole_rim_excess_ratio", "hole_test_excess_ratio",
                "hole_test_bce_ratio", "hole_depth_corr", *depth]

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        scores: dict[str, Score] = {}
        per_image: dict[str, dict[str, np.ndarray] | None] = {}
        for split in SPLITS:
            pair = split_images(ctx, split, required=split in ("train", "test"),
                                max_draws=self.max_draws)
            if pair is None:
                per_image[split] = None
            else:
                x, r = pair
                per_image[split] = {
                    "bce": per_image_bce(x, r),
                    "excess_bce": per_image_excess_bce(x, r),
                    "mse": per_image_mse(x, r),
                    "frob": per_image_frobenius(x, r),
                    "intensity_err": per_image_intensity_error(x, r),
                    "peak_err": per_image_peak_error(x, r),
                }
            for quantity in QUANTITIES:
                key = f"{split}_{quantity}"
                values = None if per_image[split] is None else per_image[split][quantity]
                scores[key] = mean_score(values, headline=key in HEADLINE)

        def items(split: str, quantity: str) -> np.ndarray | None:
            return None if per_image[split] is None else per_image[split][quantity]

        for key, num, den, control in (
                ("hole_rim_excess_ratio", ("hole", "excess_bce"), ("rim", "excess_bce"), "rim"),
                ("hole_test_excess_ratio", ("hole", "excess_bce"), ("test", "excess_bce"),
                 "test"),
                ("hole_test_bce_ratio", ("hole", "bce"), ("test", "bce"), "test")):
            scores[key] = ratio_score(items(*num), items(*den), headline=key in HEADLINE,
                                      target=1.0,
                                      control=(f"{control}_fail_rate", RIM_CONTROL_LIMIT))

        hole_errors = items("hole", "excess_bce")
        depth = ctx.splits["hole"].depth if hole_errors is not None else None
        rows = draw_rows(ctx, "hole", self.max_draws)
        if depth is not None and rows is not None:
            depth = np.asarray(depth)[rows]
        if hole_errors is None or depth is None:
            corr, bins = NAN, [None] * self.depth_bins
        else:
            depth = np.asarray(depth, dtype=np.float64).reshape(-1)
            if depth.shape != hole_errors.shape:
                raise DataError(f'the "hole" split has {hole_errors.size} images but '
                                f"{depth.size} depths.")
            corr = spearman(hole_errors, depth)
            bins = depth_bin_items(hole_errors, depth, self.depth_bins)
        scores["hole_depth_corr"] = Score(corr, higher_is_better=False)
        for b, values in enumerate(bins):
            scores[f"hole_excess_bce_depth{b}"] = mean_score(values)
        return scores
