"""Mutual information gap (Chen et al. 2018), estimated as disentanglement_lib does."""

from __future__ import annotations

import numpy as np

from zsbench.plugin import EvalContext, Metric, Score, SuitePlan
from zsbench_plugins.metrics._disentanglement import (
    NUM_BINS,
    check_positive,
    factor_codes,
    histogram_discretize,
    split_arrays,
    top_two_gap,
)


def mutual_information(codes: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Discrete mutual information ``[D, F]`` (nats) between each column of ``codes
    [N, D]`` and each column of ``targets [N, F]`` (both integer labels)."""
    from sklearn.metrics import mutual_info_score  # on use: slow to import

    m = np.zeros((codes.shape[1], targets.shape[1]))
    for i in range(codes.shape[1]):
        for j in range(targets.shape[1]):
            m[i, j] = mutual_info_score(targets[:, j], codes[:, i])
    return m


def mig_scores(latents: np.ndarray, codes: np.ndarray,
               num_bins: int = NUM_BINS) -> tuple[float, np.ndarray]:
    """``(MIG, per-factor gaps [F])`` of ``latents [N, D]`` against factor labels
    ``codes [N, F]``.

    Each latent is discretised into ``num_bins`` equal-width histogram bins; ``I[i, j]`` is
    the plug-in mutual information between latent ``i``'s bins and factor ``j``'s labels and
    ``H[j]`` the factor's entropy; factor ``j``'s gap is ``(I[(1), j] - I[(2), j]) / H[j]``
    (largest minus second largest over latents) and MIG their mean, as in
    disentanglement_lib's ``_compute_mig``. A factor with a single value (``H = 0``) has
    no gap (NaN) and is left out of the mean; with one latent the second largest is 0."""
    from sklearn.metrics import mutual_info_score  # on use: slow to import

    z = histogram_discretize(latents, num_bins)
    y = np.asarray(codes, dtype=np.int64)
    m = mutual_information(z, y)
    entropy = np.array([mutual_info_score(y[:, j], y[:, j]) for j in range(y.shape[1])])
    gaps = np.full(y.shape[1], np.nan)
    ok = entropy > 0
    gaps[ok] = top_two_gap(m)[ok] / entropy[ok]
    return (float(np.mean(gaps[ok])) if ok.any() else float("nan")), gaps


class MIG(Metric):
    """Mutual information gap of the latent means against the true factors (higher is better).

    For each factor: the mutual information of its best latent minus that of the second
    best, divided by the factor's entropy; ``mig`` is the mean over factors and
    ``mig_FACTOR`` each factor's gap. Estimated as in disentanglement_lib and ``disent``:
    latents discretised into 20 equal-width histogram bins, plug-in mutual information
    (scikit-learn's ``mutual_info_score``). The factors are labels as in the reference,
    which uses the dataset's factor classes: a factor with at most ``num_bins`` distinct
    values keeps them, a continuous one is binned like the latents (see
    ``_disentanglement.factor_codes``).

    What it cannot be fooled by: rescaling or shifting a latent (the bins follow its range);
    a constant or collapsed latent carries no information (0); two latents copying one
    factor leave no gap (0). It rewards axis alignment only: a rotated but complete code
    scores low, which DCI's informativeness separates.

    Parameters
    ----------
    split:
        Whose latents: "train" (the default, as the reference uses training samples).
    max_points:
        At most this many rows (a subsample drawn with ``seed``; the reference uses 10 000).
    num_bins:
        Histogram bins (20 in the reference).
    seed:
        Seeds the subsample.
    """

    name = "mig"
    requires = ("model.encode",)
    split_parameters = ("split",)

    def __init__(self, *, split: str = "train", max_points: int = 10000,
                 num_bins: int = NUM_BINS, seed: int = 0) -> None:
        self.split = split
        self.max_points = max_points
        self.num_bins = num_bins
        self.seed = seed
        check_positive(self.name, "max_points", max_points, 2)
        check_positive(self.name, "num_bins", num_bins, 2)

    def score_names(self, plan: SuitePlan) -> list[str]:
        return ["mig", *(f"mig_{n}" for n in plan.space.names)]

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        z, f = split_arrays(ctx, self.split, self.name, int(self.max_points), int(self.seed))
        score, gaps = mig_scores(z, factor_codes(f, ctx.space, int(self.num_bins)),
                                 int(self.num_bins))
        out = {"mig": Score(score, higher_is_better=True, headline=True)}
        for name, gap in zip(ctx.space.names, gaps):
            out[f"mig_{name}"] = Score(float(gap), higher_is_better=True)
        return out
