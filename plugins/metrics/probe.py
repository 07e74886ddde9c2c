"""Probes from latent means to the ground-truth factors: kNN and linear."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import EvalContext, Metric, Score, SuitePlan

if TYPE_CHECKING:  # scikit-learn is imported where it is used: it is slow to import, and
    # every zsbench command and worker imports every plugin module
    from sklearn.base import BaseEstimator
    from sklearn.model_selection import KFold
    from sklearn.pipeline import Pipeline

NAN = float("nan")
ProbeKind = Literal["knn", "linear"]
PROBE_KINDS: tuple[str, ...] = ("knn", "linear")
EVAL_SPLITS: tuple[str, ...] = ("test", "hole")


def subsample(n: int, max_rows: int, seed: int) -> np.ndarray:
    """Sorted row indices ``[min(n, max_rows)]``: all rows, or a seeded sample without
    replacement."""
    if n <= max_rows:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max_rows, replace=False))


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """``1 - MSE / var(y_true)``: the coefficient of determination on the split's own
    variance, so a small split such as the hole is judged on its own scale (a probe that
    only knows roughly where the hole is scores near 0 or below there). NaN when undefined
    (fewer than 2 points, or constant truth)."""
    if len(y_true) < 2 or np.ptp(y_true) == 0:
        return NAN
    from sklearn.metrics import r2_score

    return float(r2_score(y_true, y_pred))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error in the factor's units; NaN for no points."""
    if len(y_true) == 0:
        return NAN
    return float(np.mean(np.abs(np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64))))


def ratio(num: float, den: float) -> float:
    """``num / den``; NaN when either is NaN or ``den`` is 0."""
    if not (np.isfinite(num) and np.isfinite(den)) or den == 0:
        return NAN
    return float(num / den)


def select_neighbors(x: np.ndarray, targets: list[tuple[np.ndarray, bool]],
                     candidates: list[int], cv: KFold, *, standardize: bool = True) -> list[int]:
    """The ``n_neighbors`` among sorted ``candidates`` with the best mean cross-validated
    score, for each ``(y [N], classify)`` target of inputs ``x [N, D]``.

    Same choice as ``GridSearchCV(Pipeline([StandardScaler(), KNeighbors*()]), cv=cv)``
    (without the scaler when ``standardize`` is False) with R² (regression) or accuracy
    (classification) scoring, ties to the smallest k; but
    each fold's neighbours are found once, up to the largest k, and shared by every
    candidate and every target, which makes it many times faster.
    """
    from sklearn.metrics import r2_score
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import StandardScaler

    kmax = max(candidates)
    ks = np.asarray(candidates)
    totals = np.zeros((len(targets), len(ks)))
    n_folds = 0
    for train, valid in cv.split(x):
        x_fit, x_valid = x[train], x[valid]
        if standardize:
            scaler = StandardScaler().fit(x_fit)
            x_fit, x_valid = scaler.transform(x_fit), scaler.transform(x_valid)
        nn = NearestNeighbors(n_neighbors=kmax).fit(x_fit)
        idx = nn.kneighbors(x_valid, return_distance=False)  # [V, kmax]
        n_folds += 1
        for j, (y, classify) in enumerate(targets):
            neigh = y[train][idx]  # [V, kmax]
            truth = y[valid]
            if classify:
                classes, codes = np.unique(neigh, return_inverse=True)
                codes = codes.reshape(neigh.shape)
                onehot = codes[:, :, None] == np.arange(len(classes))[None, None, :]
                votes = np.cumsum(onehot, axis=1)[:, ks - 1, :]  # [V, K, C]
                preds = classes[np.argmax(votes, axis=2)]  # ties: smallest class, as sklearn
                totals[j] += (preds == truth[:, None]).mean(axis=0)
            else:
                preds = np.cumsum(neigh, axis=1)[:, ks - 1] / ks  # [V, K]
                totals[j] += [r2_score(truth, preds[:, i]) for i in range(len(ks))]
    means = totals / max(n_folds, 1)
    return [int(ks[np.argmax(row)]) for row in means]  # argmax: first (smallest k) of ties


def nan_mean_of(values: list[float]) -> float:
    """Mean of the finite values; NaN if there are none."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else NAN


class Probe(Metric):
    """How well a kNN or linear probe reads each factor from the latent means.

    Probes are fitted on every training latent mean (outside the hole; ``max_train`` caps
    the rows, sampled with ``seed``, only when set), inputs standardised on the training
    rows unless ``standardize`` is False, and scored on the test split and on the hole
    separately. kNN probes choose ``n_neighbors`` among ``neighbors`` by ``folds``-fold
    cross-validation (KFold shuffled with ``seed``; R² for continuous factors, accuracy for
    discrete ones); linear probes are ordinary least squares / logistic regression.

    Scores, for each probe P in ``probes``, split S in (test, hole) and factor F:
    continuous F: ``P_r2_S_F`` (R² on the split's own variance: the hole is judged on the
    hole's scale, not the whole space's), ``P_mae_S_F`` (mean absolute error in factor
    units, lower is better) and ``P_mae_ratio_hole_F`` (hole MAE / test MAE, lower is
    better: 1 means the hole is read as well as unseen points outside it); discrete F:
    ``P_acc_S_F`` (accuracy) and ``P_f1_S_F`` (F1 of ``F == positive[F]`` against the
    rest; default positive value: the factor's smallest). Means over factors:
    ``P_r2_S_mean`` and ``P_mae_ratio_hole_mean`` (if any continuous factor) and
    ``P_acc_S_mean`` (if any discrete factor). Headline (kNN, or the first probe without
    kNN): ``r2_test_mean``, ``mae_ratio_hole_mean``, ``acc_test_mean``.
    NaN where undefined: no hole; an R² over constant truth or fewer than 2 points; F1 with
    neither true nor predicted positives; a discrete factor with one value in train.
    """

    name = "probe"
    requires = ("model.encode",)

    def __init__(
        self,
        *,
        factors: list[str] | None = None,
        probes: list[ProbeKind] = ["knn", "linear"],  # noqa: B006 (stored, never mutated)
        neighbors: list[int] = list(range(3, 25)),  # noqa: B006, B008
        folds: int = 5,
        max_train: int | None = None,
        seed: int = 0,
        positive: dict[str, float] | None = None,
        standardize: bool = True,
    ) -> None:
        """``factors``: factor names to probe (default: all); ``probes``: which probes;
        ``neighbors``: candidate ``n_neighbors`` of the kNN search; ``folds``: CV folds;
        ``max_train``: most training rows used (None: all); ``seed``: subsampling and CV
        shuffling; ``positive``: factor name -> the value counted as positive for F1;
        ``standardize``: scale the latent means to unit variance on the training rows
        before probing (False: probe the raw means)."""
        def bad(key: str, problem: str, fix: str) -> PluginParameterError:
            return PluginParameterError("metric", self.name, key, problem, fix)

        if (not probes or any(p not in PROBE_KINDS for p in probes)
                or len(set(probes)) < len(probes)):
            raise bad("probes", f"got {probes!r}.",
                      'give a non-empty list of distinct probes among "knn", "linear".')
        if factors is not None and (not factors or len(set(factors)) < len(factors)):
            raise bad("factors", f"got {factors!r}.",
                      "give a non-empty list of distinct factor names, or leave it out for all.")
        if not neighbors or any(int(k) < 1 for k in neighbors):
            raise bad("neighbors", f"got {neighbors!r}.",
                      "give a non-empty list of positive integers, e.g. [3, 5, 10].")
        if folds < 2:
            raise bad("folds", f"must be at least 2, got {folds}.", "e.g. folds = 5.")
        if max_train is not None and max_train < 2:
            raise bad("max_train", f"must be at least 2, got {max_train}.",
                      "e.g. 2000, or leave it out to fit on every training row.")
        self.factors = factors
        self.probes = probes
        self.neighbors = neighbors
        self.folds = folds
        self.max_train = max_train
        self.seed = seed
        self.positive = positive
        self.standardize = standardize

    # -- estimators ------------------------------------------------------------------
    def _knn_candidates(self, n: int) -> tuple[int, list[int]]:
        """Folds and sorted candidate ``n_neighbors`` usable with ``n`` training rows
        (none larger than the smallest fold's training part)."""
        folds = min(self.folds, n)
        smallest_fold_train = n - -(-n // folds)
        candidates = sorted({int(k) for k in self.neighbors if int(k) <= smallest_fold_train})
        return folds, candidates or [max(1, smallest_fold_train)]

    def _knn(self, x: np.ndarray, targets: list[tuple[np.ndarray, bool]]) -> list[BaseEstimator]:
        """kNN probes fitted on ``x [N, D]``, one per ``(y [N], classify)`` target, each
        with ``n_neighbors`` chosen by cross-validation (see :func:`select_neighbors`)."""
        from sklearn.model_selection import KFold
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        folds, candidates = self._knn_candidates(len(x))
        cv = KFold(n_splits=folds, shuffle=True, random_state=self.seed)
        chosen = select_neighbors(x, targets, candidates, cv, standardize=self.standardize)
        fitted = []
        for (y, classify), k in zip(targets, chosen):
            knn = (KNeighborsClassifier(n_neighbors=k) if classify
                   else KNeighborsRegressor(n_neighbors=k))
            fitted.append(self._pipeline(knn).fit(x, y))
        return fitted

    def _pipeline(self, estimator: BaseEstimator) -> Pipeline:
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        scale = StandardScaler() if self.standardize else "passthrough"
        return Pipeline([("scale", scale), ("probe", estimator)])

    def _linear(self, x: np.ndarray, y: np.ndarray, classify: bool) -> BaseEstimator:
        """A linear (OLS or logistic) probe fitted on ``x [N, D]`` (standardised unless
        ``standardize`` is False), ``y [N]``."""
        from sklearn.linear_model import LinearRegression, LogisticRegression

        model = LogisticRegression(max_iter=1000) if classify else LinearRegression()
        return self._pipeline(model).fit(x, y)

    # -- compute ---------------------------------------------------------------------
    factor_parameters = ("factors", "positive")

    def score_names(self, plan: SuitePlan) -> list[str]:
        factors = list(self.factors or plan.space.names)
        ends = [*factors, "mean"]
        return [*(f"{kind}_{q}_{split}_{end}" for kind in self.probes
                  for q in ("r2", "acc", "f1", "mae") for split in EVAL_SPLITS for end in ends),
                *(f"{kind}_mae_ratio_hole_{end}" for kind in self.probes for end in ends)]

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        from sklearn.metrics import accuracy_score, f1_score

        names = list(self.factors) if self.factors is not None else ctx.space.names
        columns = [ctx.space.index(n) for n in names]
        positive = dict(self.positive or {})
        for key in positive:
            if key not in names or not ctx.space[key].discrete:
                raise DataError(f'probe: positive names "{key}", which is not a probed '
                                f"discrete factor (probed: {', '.join(names)}).")

        for split in ("train", "test"):
            if split not in ctx.latents or split not in ctx.splits:
                raise DataError(f'probe: the evaluation context lacks the "{split}" split '
                                f"or its latents.")
        for split in ("train", *EVAL_SPLITS):
            if split in ctx.latents and split in ctx.splits:
                if len(ctx.latents[split]) != len(ctx.splits[split]):
                    raise DataError(f'probe: split "{split}" has {len(ctx.splits[split])} '
                                    f"points but {len(ctx.latents[split])} latents.")
        n_train = len(ctx.latents["train"])
        rows = subsample(n_train, self.max_train if self.max_train is not None else n_train,
                         self.seed)
        x_train = np.asarray(ctx.latents["train"], dtype=np.float64)[rows]
        f_train = np.asarray(ctx.splits["train"].factors, dtype=np.float64)[rows]
        evals: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
        for split in EVAL_SPLITS:
            if split in ctx.splits and split in ctx.latents and len(ctx.splits[split]) > 0:
                evals[split] = (np.asarray(ctx.latents[split], dtype=np.float64),
                                np.asarray(ctx.splits[split].factors, dtype=np.float64))
            else:
                evals[split] = None

        scores: dict[str, Score] = {}

        def put(key: str, value: float, higher_is_better: bool = True) -> None:
            if key in scores:
                raise DataError(f'probe: two scores named "{key}"; rename a factor.')
            scores[key] = Score(float(value), higher_is_better=higher_is_better)

        targets: list[tuple[str, int, bool, float]] = []  # name, column, classify, positive
        for name, col in zip(names, columns):
            factor = ctx.space[name]
            pos = NAN
            if factor.discrete:
                values = np.asarray(factor.values, dtype=np.float64)
                pos = float(positive.get(name, values.min()))
                if not np.isclose(values, pos).any():
                    raise DataError(f'probe: positive value {pos:g} for "{name}" is not one '
                                    f"of its values {', '.join(f'{v:g}' for v in values)}.")
            targets.append((name, col, factor.discrete, pos))
        # a target is usable when it has at least two classes (discrete) or two rows
        usable = [t for t in targets
                  if (len(np.unique(f_train[:, t[1]])) > 1 if t[2] else len(f_train) >= 2)]

        per_kind: dict[tuple[str, str, str], list[float]] = {}
        for kind in self.probes:
            pairs = [(f_train[:, col], classify) for _, col, classify, _ in usable]
            if kind == "knn":
                models = self._knn(x_train, pairs) if pairs else []
            else:
                models = [self._linear(x_train, y, classify) for y, classify in pairs]
            fitted = {t[0]: m for t, m in zip(usable, models)}
            for name, col, classify, pos in targets:
                model = fitted.get(name)
                errors: dict[str, float] = {}
                for split in EVAL_SPLITS:
                    data = evals[split]
                    y_true = y_pred = None
                    if model is not None and data is not None:
                        y_true, y_pred = data[1][:, col], model.predict(data[0])
                    if classify:
                        acc = f1 = NAN
                        if y_true is not None and y_pred is not None:
                            acc = float(accuracy_score(y_true, y_pred))
                            truth, guess = np.isclose(y_true, pos), np.isclose(y_pred, pos)
                            f1 = float(f1_score(truth, guess, zero_division=np.nan))
                        put(f"{kind}_acc_{split}_{name}", acc)
                        put(f"{kind}_f1_{split}_{name}", f1)
                        per_kind.setdefault((kind, "acc", split), []).append(acc)
                    else:
                        value = error = NAN
                        if y_true is not None and y_pred is not None:
                            value, error = r2(y_true, y_pred), mae(y_true, y_pred)
                        put(f"{kind}_r2_{split}_{name}", value)
                        put(f"{kind}_mae_{split}_{name}", error, higher_is_better=False)
                        per_kind.setdefault((kind, "r2", split), []).append(value)
                        errors[split] = error
                if not classify:
                    value = ratio(errors.get("hole", NAN), errors.get("test", NAN))
                    put(f"{kind}_mae_ratio_hole_{name}", value, higher_is_better=False)
                    per_kind.setdefault((kind, "mae_ratio", "hole"), []).append(value)

        lead = "knn" if "knn" in self.probes else self.probes[0]
        headline = {f"{lead}_r2_test_mean", f"{lead}_mae_ratio_hole_mean",
                    f"{lead}_acc_test_mean"}
        for (kind, quantity, split), values in per_kind.items():
            key = f"{kind}_{quantity}_{split}_mean"
            higher = quantity != "mae_ratio"
            put(key, nan_mean_of(values))
            scores[key] = Score(scores[key].value, higher_is_better=higher,
                                headline=key in headline)
        return scores
