"""Probes from latent means to the ground-truth factors: kNN and linear."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np

from zsbench_plugins.metrics._errors import ratio

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import EvalContext, Metric, Score, SuitePlan
from zsbench.space import LatentSpace
from zsbench.splits import seeded_rows

if TYPE_CHECKING:  # scikit-learn is imported where it is used: it is slow to import, and
    # every zsbench command and worker imports every plugin module
    from sklearn.base import BaseEstimator
    from sklearn.model_selection import KFold
    from sklearn.pipeline import Pipeline

NAN = float("nan")
ProbeKind = Literal["knn", "linear"]
PROBE_KINDS: tuple[str, ...] = ("knn", "linear")
EVAL_SPLITS: tuple[str, ...] = ("test", "hole")


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
        names = list(self.factors) if self.factors is not None else ctx.space.names
        columns = [ctx.space.index(n) for n in names]
        positive = dict(self.positive or {})
        _check_context(ctx, names, positive)
        x_train, f_train = self._training_rows(ctx)
        evals = _eval_data(ctx)
        targets = _targets(ctx.space, names, columns, positive)
        # a target is usable when it has at least two classes (discrete) or two rows
        usable = [t for t in targets
                  if (len(np.unique(f_train[:, t.column])) > 1 if t.discrete
                      else len(f_train) >= 2)]
        board = _Board()
        for kind in self.probes:
            fitted = self._fit(kind, x_train, f_train, usable)
            for target in targets:
                _score_target(board, kind, target, fitted.get(target.name), evals)
        self._put_means(board)
        return board.scores

    def _training_rows(self, ctx: EvalContext) -> tuple[np.ndarray, np.ndarray]:
        """The training latent means ``[n, D]`` and factors ``[n, F]`` (float64) the probes
        are fitted on: every training row, or ``max_train`` of them sampled with ``seed``."""
        n_train = len(ctx.latents["train"])
        rows = seeded_rows(n_train, self.max_train if self.max_train is not None else n_train,
                           seed=self.seed)
        x_train = np.asarray(ctx.latents["train"], dtype=np.float64)[rows]
        f_train = np.asarray(ctx.splits["train"].factors, dtype=np.float64)[rows]
        return x_train, f_train

    def _fit(self, kind: str, x_train: np.ndarray, f_train: np.ndarray,
             usable: list[_Target]) -> dict[str, BaseEstimator]:
        """The probes of ``kind`` fitted on ``x_train [n, D]`` to the ``usable`` targets'
        columns of ``f_train [n, F]``, by factor name."""
        pairs = [(f_train[:, t.column], t.discrete) for t in usable]
        if kind == "knn":
            models = self._knn(x_train, pairs) if pairs else []
        else:
            models = [self._linear(x_train, y, classify) for y, classify in pairs]
        return {t.name: m for t, m in zip(usable, models)}

    def _put_means(self, board: _Board) -> None:
        """Add the means over factors, ``P_Q_S_mean``; the lead probe's (kNN, else the first)
        test R², hole MAE ratio and test accuracy are the headline scores."""
        lead = "knn" if "knn" in self.probes else self.probes[0]
        headline = {f"{lead}_r2_test_mean", f"{lead}_mae_ratio_hole_mean",
                    f"{lead}_acc_test_mean"}
        scores = board.scores
        for (kind, quantity, split), values in board.per_kind.items():
            key = f"{kind}_{quantity}_{split}_mean"
            higher = quantity != "mae_ratio"
            board.put(key, nan_mean_of(values))
            scores[key] = Score(scores[key].value, higher_is_better=higher,
                                headline=key in headline)


class _Target(NamedTuple):
    """One probed factor: its name, its column in the factors, whether it is discrete
    (classified) and, if so, the value counted as positive for F1 (else NaN)."""

    name: str
    column: int
    discrete: bool
    positive: float


@dataclass
class _Board:
    """The scores of one :meth:`Probe.compute` call, and for each ``(probe, quantity,
    split)`` the per-factor values whose mean is a score too."""

    scores: dict[str, Score] = field(default_factory=dict)
    per_kind: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)

    def put(self, key: str, value: float, higher_is_better: bool = True,
            mean_of: tuple[str, str, str] | None = None) -> None:
        """Add score ``key`` (two of one name are a DataError), and its value to the mean
        ``mean_of`` when given."""
        if key in self.scores:
            raise DataError(f'probe: two scores named "{key}"; rename a factor.')
        self.scores[key] = Score(float(value), higher_is_better=higher_is_better)
        if mean_of is not None:
            self.per_kind.setdefault(mean_of, []).append(value)


def _check_context(ctx: EvalContext, names: list[str], positive: dict[str, float]) -> None:
    """A DataError when ``positive`` names a factor that is not a probed discrete one, or
    the context lacks the train or test split (or its latents), or a split's latents do not
    match its points."""
    for key in positive:
        if key not in names or not ctx.space[key].discrete:
            raise DataError(f'probe: positive names "{key}", which is not a probed '
                            f"discrete factor (probed: {', '.join(names)}).")
    for split in ("train", "test"):
        if split not in ctx.latents or split not in ctx.splits:
            raise DataError(f'probe: the evaluation context lacks the "{split}" split '
                            f"or its latents.")
    for split in ("train", *EVAL_SPLITS):
        if (split in ctx.latents and split in ctx.splits
                and len(ctx.latents[split]) != len(ctx.splits[split])):
            raise DataError(f'probe: split "{split}" has {len(ctx.splits[split])} '
                            f"points but {len(ctx.latents[split])} latents.")


def _eval_data(ctx: EvalContext) -> dict[str, tuple[np.ndarray, np.ndarray] | None]:
    """For each evaluation split, its latent means ``[m, D]`` and factors ``[m, F]``
    (float64); None for a split that is missing or empty."""
    evals: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
    for split in EVAL_SPLITS:
        if split in ctx.splits and split in ctx.latents and len(ctx.splits[split]) > 0:
            evals[split] = (np.asarray(ctx.latents[split], dtype=np.float64),
                            np.asarray(ctx.splits[split].factors, dtype=np.float64))
        else:
            evals[split] = None
    return evals


def _targets(space: LatentSpace, names: list[str], columns: list[int],
             positive: dict[str, float]) -> list[_Target]:
    """The probed factors, in order; a discrete factor's positive value is ``positive``'s
    or its smallest value, and must be one of its values (else a DataError)."""
    targets = []
    for name, col in zip(names, columns):
        factor = space[name]
        pos = NAN
        if factor.discrete:
            values = np.asarray(factor.values, dtype=np.float64)
            pos = float(positive.get(name, values.min()))
            if not np.isclose(values, pos).any():
                raise DataError(f'probe: positive value {pos:g} for "{name}" is not one '
                                f"of its values {', '.join(f'{v:g}' for v in values)}.")
        targets.append(_Target(name, col, factor.discrete, pos))
    return targets


def _score_target(board: _Board, kind: str, target: _Target, model: BaseEstimator | None,
                  evals: dict[str, tuple[np.ndarray, np.ndarray] | None]) -> None:
    """Put the scores of probe ``kind`` (``model``; None when the target was not usable)
    on one factor, split by split (NaN where a split is missing): accuracy and F1 for a
    discrete factor, R² and MAE, then the hole/test MAE ratio, for a continuous one."""
    errors: dict[str, float] = {}
    for split in EVAL_SPLITS:
        data = evals[split]
        y_true = y_pred = None
        if model is not None and data is not None:
            y_true, y_pred = data[1][:, target.column], model.predict(data[0])
        if target.discrete:
            _put_classification(board, kind, split, target, y_true, y_pred)
        else:
            errors[split] = _put_regression(board, kind, split, target.name, y_true, y_pred)
    if not target.discrete:
        value = ratio(errors.get("hole", NAN), errors.get("test", NAN))
        board.put(f"{kind}_mae_ratio_hole_{target.name}", value, higher_is_better=False,
                  mean_of=(kind, "mae_ratio", "hole"))


def _put_classification(board: _Board, kind: str, split: str, target: _Target,
                        y_true: np.ndarray | None, y_pred: np.ndarray | None) -> None:
    """Accuracy and F1 (of ``target.positive`` against the rest) of the predictions
    ``y_pred [m]`` of ``y_true [m]``; NaN without predictions."""
    from sklearn.metrics import accuracy_score, f1_score

    acc = f1 = NAN
    if y_true is not None and y_pred is not None:
        acc = float(accuracy_score(y_true, y_pred))
        truth, guess = np.isclose(y_true, target.positive), np.isclose(y_pred, target.positive)
        f1 = float(f1_score(truth, guess, zero_division=np.nan))
    board.put(f"{kind}_acc_{split}_{target.name}", acc, mean_of=(kind, "acc", split))
    board.put(f"{kind}_f1_{split}_{target.name}", f1)


def _put_regression(board: _Board, kind: str, split: str, name: str,
                    y_true: np.ndarray | None, y_pred: np.ndarray | None) -> float:
    """R² and MAE of the predictions ``y_pred [m]`` of ``y_true [m]`` (NaN without
    predictions); returns the MAE."""
    value = error = NAN
    if y_true is not None and y_pred is not None:
        value, error = r2(y_true, y_pred), mae(y_true, y_pred)
    board.put(f"{kind}_r2_{split}_{name}", value, mean_of=(kind, "r2", split))
    board.put(f"{kind}_mae_{split}_{name}", error, higher_is_better=False)
    return error
