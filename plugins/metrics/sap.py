"""Separated attribute predictability (Kumar et al. 2018), scored as disentanglement_lib does."""

from __future__ import annotations

from typing import Literal

import numpy as np

from zsbench.errors import PluginParameterError
from zsbench.plugin import EvalContext, Metric, Score, SuitePlan
from zsbench_plugins.metrics._disentanglement import (
    NUM_BINS,
    check_positive,
    discrete_factors,
    factor_codes,
    split_arrays,
    top_two_gap,
)


def sap_matrix(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray,
               y_test: np.ndarray, continuous: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Score matrix ``[D, F]``: how well latent ``i`` alone predicts factor ``j``.

    A continuous factor (``continuous[j]``): the squared Pearson correlation of latent and
    factor values on the training rows (``cov^2 / (var_z var_y)``, ddof 1; 0 for a latent
    of variance <= 1e-12). A discrete one: the test accuracy of a linear SVM
    (``LinearSVC(C=0.01, class_weight="balanced")``, seeded) trained on the one latent to
    predict the factor's labels. Both as in disentanglement_lib's ``_compute_score_matrix``.
    """
    from sklearn.svm import LinearSVC  # on use: slow to import

    d, n_factors = z_train.shape[1], y_train.shape[1]
    m = np.zeros((d, n_factors))
    for i in range(d):
        for j in range(n_factors):
            if continuous[j]:
                cov = np.cov(z_train[:, i], y_train[:, j], ddof=1)
                if cov[0, 0] > 1e-12 and cov[1, 1] > 0:
                    m[i, j] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])
            elif len(np.unique(y_train[:, j])) > 1:
                clf = LinearSVC(C=0.01, class_weight="balanced", random_state=seed)
                clf.fit(z_train[:, i:i + 1], y_train[:, j])
                m[i, j] = np.mean(clf.predict(z_test[:, i:i + 1]) == y_test[:, j])
    return m


class SAP(Metric):
    """SAP score: the gap in predictability of each factor between its two best latents (higher is better).

    For each factor, every latent alone predicts it (see the scores below); the factor's
    gap is the best latent's score minus the second best, and ``sap`` the mean gap over
    factors. Continuous factors are scored by the squared correlation with the latent
    (``mode = "continuous"`` in disentanglement_lib), discrete ones by the test accuracy
    of a one-latent linear SVM on the factor's labels (its ``mode = "discrete"``, the one
    published for dSprites). ``mode = "auto"`` (the default) picks per factor: a factor
    with at most ``num_bins`` distinct values is discrete, as in Kumar et al.;
    ``"continuous"`` or ``"discrete"`` force one score for all, as the reference does.

    What it cannot be fooled by: a constant latent scores 0 with every factor; two latents
    copying one factor leave no gap. The continuous score is invariant to rescaling a
    latent; the SVM's (its ``C = 0.01`` penalty, as in the reference) is not quite.

    Parameters
    ----------
    split, test_split:
        Rows that fit (and, for continuous factors, score) and rows that test the SVMs.
    mode:
        "auto", "continuous" or "discrete" (see above).
    max_train, max_test:
        At most this many rows of each (subsamples drawn with ``seed``; the reference uses
        10 000 and 5 000).
    num_bins:
        Label bins of a continuous factor in the discrete mode.
    seed:
        Seeds the subsamples and the SVMs.
    """

    name = "sap"
    requires = ("model.encode",)
    split_parameters = ("split", "test_split")

    def __init__(self, *, split: str = "train", test_split: str = "test",
                 mode: Literal["auto", "continuous", "discrete"] = "auto",
                 max_train: int = 10000, max_test: int = 5000, num_bins: int = NUM_BINS,
                 seed: int = 0) -> None:
        self.split = split
        self.test_split = test_split
        self.mode = mode
        self.max_train = max_train
        self.max_test = max_test
        self.num_bins = num_bins
        self.seed = seed
        if mode not in ("auto", "continuous", "discrete"):
            raise PluginParameterError("metric", self.name, "mode", f"got {mode!r}.",
                                       'give "auto", "continuous" or "discrete".')
        for key in ("max_train", "max_test"):
            check_positive(self.name, key, getattr(self, key), 2)
        check_positive(self.name, "num_bins", num_bins, 2)

    def score_names(self, plan: SuitePlan) -> list[str]:
        return ["sap", *(f"sap_{n}" for n in plan.space.names)]

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        z_tr, f_tr = split_arrays(ctx, self.split, self.name, int(self.max_train),
                                  int(self.seed))
        z_te, f_te = split_arrays(ctx, self.test_split, self.name, int(self.max_test),
                                  int(self.seed))
        both = np.concatenate([f_tr, f_te])
        if self.mode == "auto":
            continuous = ~discrete_factors(both, int(self.num_bins))
        else:
            continuous = np.full(both.shape[1], self.mode == "continuous")
        codes = factor_codes(both, ctx.space, int(self.num_bins)).astype(np.float64)
        # continuous factors are scored on their values, discrete ones on their labels
        targets = np.where(continuous[None, :], both, codes)
        m = sap_matrix(z_tr, targets[:len(f_tr)], z_te, targets[len(f_tr):], continuous,
                       seed=int(self.seed))
        gaps = top_two_gap(m)
        out = {"sap": Score(float(gaps.mean()), higher_is_better=True, headline=True)}
        for name, gap in zip(ctx.space.names, gaps):
            out[f"sap_{name}"] = Score(float(gap), higher_is_better=True)
        return out
