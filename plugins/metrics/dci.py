"""Disentanglement, completeness and informativeness (Eastwood and Williams 2018), with
gradient-boosted trees as disentanglement_lib does."""

from __future__ import annotations

import numpy as np

from zsbench.plugin import EvalContext, Metric, Score, SuitePlan
from zsbench_plugins.metrics._disentanglement import (
    NUM_BINS,
    check_positive,
    factor_codes,
    split_arrays,
)


def importance_matrix(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray,
                      y_test: np.ndarray, *, seed: int = 0,
                      n_estimators: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(importance [D, F], train accuracy [F], test accuracy [F])``: for each factor a
    scikit-learn ``GradientBoostingClassifier`` (its defaults, as in the reference, with
    ``random_state = seed`` and ``n_estimators``) predicts the factor's labels ``y [N, F]``
    from the latents ``z [N, D]``; its impurity-based feature importances are column ``j``."""
    from sklearn.ensemble import GradientBoostingClassifier  # on use: slow to import

    d, n_factors = z_train.shape[1], y_train.shape[1]
    imp = np.zeros((d, n_factors))
    acc_train, acc_test = np.zeros(n_factors), np.zeros(n_factors)
    for j in range(n_factors):
        if len(np.unique(y_train[:, j])) < 2:  # nothing to predict: a single class
            acc_train[j] = 1.0
            acc_test[j] = float(np.mean(y_test[:, j] == y_train[0, j]))
            continue
        model = GradientBoostingClassifier(random_state=seed, n_estimators=n_estimators)
        model.fit(z_train, y_train[:, j])
        imp[:, j] = np.abs(model.feature_importances_)
        acc_train[j] = np.mean(model.predict(z_train) == y_train[:, j])
        acc_test[j] = np.mean(model.predict(z_test) == y_test[:, j])
    return imp, acc_train, acc_test


def _one_minus_entropy(p: np.ndarray, base: int) -> np.ndarray:
    """``1 - H(column)`` with logarithms in ``base``, columns of ``p`` normalised (scipy's
    ``entropy`` on ``p + 1e-11``, as the reference); 1 when ``base`` is 1."""
    if base < 2:
        return np.ones(p.shape[1])
    from scipy.stats import entropy  # on use: slow to import

    return 1.0 - entropy(p + 1e-11, base=base)


def dci_from_importance(imp: np.ndarray) -> tuple[float, float]:
    """``(disentanglement, completeness)`` of an importance matrix ``[D, F]``.

    Disentanglement: ``sum_i rho_i (1 - H_F(P_i.))`` with ``P_i.`` latent ``i``'s
    importances normalised over factors and ``rho_i`` its share of the total importance;
    completeness: ``sum_j rho_j (1 - H_D(P_.j))`` likewise per factor. An all-zero matrix
    (nothing predicts anything) weighs codes and factors equally."""
    d, f = imp.shape
    per_code = _one_minus_entropy(imp.T, f)
    per_factor = _one_minus_entropy(imp, d)
    weights = imp if imp.sum() > 0 else np.ones_like(imp)
    code_share = weights.sum(axis=1) / weights.sum()
    factor_share = weights.sum(axis=0) / weights.sum()
    return float(np.sum(per_code * code_share)), float(np.sum(per_factor * factor_share))


class DCI(Metric):
    """DCI disentanglement, completeness and informativeness of the latent means (higher is better).

    For each true factor a gradient-boosted tree classifier (scikit-learn's
    ``GradientBoostingClassifier`` with its defaults, as disentanglement_lib and ``disent``
    use; seeded) predicts the factor's labels from the latent means of the ``split`` rows;
    its feature importances form the importance matrix ``R [D, F]``.
    ``dci_disentanglement``: how much each latent is dedicated to one factor (1 minus the
    entropy of its row, base F, weighted by the latent's share of importance);
    ``dci_completeness``: how much each factor is captured by one latent (columns, base
    D); ``dci_informativeness``: the classifiers' mean accuracy on ``test_split`` (and
    ``dci_informativeness_train`` on the training rows). Factors are labels as in
    ``mig`` (at most ``num_bins`` distinct values kept, otherwise 20 equal-width bins).

    What fools it, and what does not: a constant latent gets no importance (a collapsed
    code scores 0); shuffled latents predict nothing on the test rows (informativeness
    falls to chance) and spread importance (disentanglement and completeness near 0); the
    tree importances are invariant to monotone rescaling of a latent.

    Parameters
    ----------
    split, test_split:
        Rows that fit the classifiers and rows that test them ("train" and "test").
    max_train, max_test:
        At most this many rows of each (subsamples drawn with ``seed``; the reference uses
        10 000 and 5 000, which take minutes per model on a small CPU).
    n_estimators:
        Boosting stages per classifier (scikit-learn's default, 100).
    num_bins:
        Label bins of a continuous factor.
    seed:
        Seeds the subsamples and the classifiers.
    """

    name = "dci"
    requires = ("model.encode",)
    split_parameters = ("split", "test_split")

    def __init__(self, *, split: str = "train", test_split: str = "test",
                 max_train: int = 2000, max_test: int = 1000, n_estimators: int = 100,
                 num_bins: int = NUM_BINS, seed: int = 0) -> None:
        self.split = split
        self.test_split = test_split
        self.max_train = max_train
        self.max_test = max_test
        self.n_estimators = n_estimators
        self.num_bins = num_bins
        self.seed = seed
        for key in ("max_train", "max_test"):
            check_positive(self.name, key, getattr(self, key), 2)
        check_positive(self.name, "n_estimators", n_estimators)
        check_positive(self.name, "num_bins", num_bins, 2)

    def score_names(self, plan: SuitePlan) -> list[str]:
        return ["dci_disentanglement", "dci_completeness", "dci_informativeness",
                "dci_informativeness_train"]

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        z_tr, f_tr = split_arrays(ctx, self.split, self.name, int(self.max_train),
                                  int(self.seed))
        z_te, f_te = split_arrays(ctx, self.test_split, self.name, int(self.max_test),
                                  int(self.seed))
        # one labelling of train and test rows together, so the classes agree
        codes = factor_codes(np.concatenate([f_tr, f_te]), ctx.space, int(self.num_bins))
        y_tr, y_te = codes[:len(f_tr)], codes[len(f_tr):]
        imp, acc_tr, acc_te = importance_matrix(z_tr, y_tr, z_te, y_te, seed=int(self.seed),
                                                n_estimators=int(self.n_estimators))
        dis, comp = dci_from_importance(imp)
        return {
            "dci_disentanglement": Score(dis, higher_is_better=True, headline=True),
            "dci_completeness": Score(comp, higher_is_better=True, headline=True),
            "dci_informativeness": Score(float(acc_te.mean()), higher_is_better=True,
                                         headline=True),
            "dci_informativeness_train": Score(float(acc_tr.mean()), higher_is_better=True),
        }
