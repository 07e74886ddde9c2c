"""Conditional generation: asked for a point of the space, does the model draw it?

A conditional generator (``generate(factors, *, seed)``) is asked for the true factors of
every split's points, ``samples`` draws per request, and each draw is read back with the
dataset's exact inverse renderer (``recover``): no trained classifier that a blurred or
off-family image could fool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from zsbench.draws import generate_checked
from zsbench.emergence import control_split, emergence_step
from zsbench.errors import PluginParameterError, ZsbenchError
from zsbench.judging import DepthProfile, Judging, depth_profile
from zsbench.plugin import EvalContext, Metric, Score, SuitePlan
from zsbench.recovery import (
    context_validity_threshold,
    factor_spans,
    judge_draws,
    judging_tolerance,
    verify_recover,
)
from zsbench.seeds import derive_seed
from zsbench.splits import even_rows
from zsbench_plugins.metrics._errors import nan_mean, ratio

NAN = float("nan")
SPLITS: tuple[str, ...] = ("train", "test", "rim", "hole")
RATIOS: tuple[tuple[str, str, str], ...] = (
    ("hole_rim_gen_err_ratio", "gen_err", "rim"),
    ("hole_test_gen_err_ratio", "gen_err", "test"),
    ("hole_rim_gen_fail_ratio", "gen_fail_rate", "rim"),
    ("hole_rim_gen_mse_ratio", "gen_mse", "rim"),
)
"""The hole against its control: ``(score, per-split quantity, control split)``. Each is
best at 1 (``target``) and ranked only among models whose control's fail rate is at most
``rim_ceiling`` (``control``)."""


@dataclass
class Draws:
    """The draws of one split: ``request [R]`` (row of the split each draw was asked for;
    ``samples`` consecutive draws per request), ``factors [R, F]`` requested, ``images
    [R, C, H, W]`` drawn, ``found [R, F]`` recovered, ``errors [R, F]`` (range units),
    ``residual [R]``, ``valid [R]``, ``failed [R]`` and ``mse [R]`` (pixel MSE against the
    exact render of the request)."""

    request: np.ndarray
    factors: np.ndarray
    images: np.ndarray
    found: np.ndarray
    errors: np.ndarray
    residual: np.ndarray
    valid: np.ndarray
    failed: np.ndarray
    mse: np.ndarray


def plugin_judging(ctx: EvalContext, who: str, tolerance: float | None,
                   residual_threshold: float | None) -> Judging:
    """The rule a plugin judges draws by: the suite's (``ctx.judging``), or, when the
    plugin was given its own ``tolerance`` or ``residual_threshold``, that override
    (its ``source`` names ``who``, and every output reports it)."""
    return ctx.judging.with_override(who, tolerance=tolerance,
                                     residual_threshold=residual_threshold)


def split_draws(ctx: EvalContext, split: str, *, samples: int, max_requests: int | None,
                judging: Judging | None = None) -> Draws | None:
    """The :class:`Draws` of ``split`` (memoised; None when the split is absent or empty):
    at most ``max_requests`` evenly spaced points of the split, each asked ``samples``
    times in one ``generate`` call seeded from the job's seed and the split's name, judged
    by ``judging`` (None: the suite's, ``ctx.judging``)."""
    if split not in ctx.splits or len(ctx.splits[split]) == 0:
        return None
    judging = ctx.judging if judging is None else judging
    bar = context_validity_threshold(ctx)

    def compute() -> Draws:
        verify_recover(ctx, 'metric "conditional_generation"')
        points = ctx.splits[split]
        rows = even_rows(len(points), max_requests)
        request = np.repeat(rows, samples)
        factors = np.asarray(points.factors[request], dtype=np.float64)
        images = generate_checked(ctx.model, factors, seed=derive_seed(
            ctx.seed, f"conditional:{split}"), label=ctx.label,
            image_shape=points.images.shape[1:], what=f"generate on {split} requests")
        judged = judge_draws(ctx.dataset, factors, images, threshold=bar, judging=judging)
        truth = points.images[request].astype(np.float32)
        # the draws as drawn, unclipped (zsbench.draws rejects draws outside [0, 1]); a
        # model whose output must be mapped into [0, 1] to be drawn offers the output
        # before that map (``generate_unclipped``), and its pixel MSE is of that output
        raw = images
        if callable(getattr(ctx.model, "generate_unclipped", None)):
            raw = np.asarray(ctx.model.generate_unclipped(factors, seed=derive_seed(
                ctx.seed, f"conditional:{split}")), dtype=np.float32)
            if raw.shape != images.shape or not np.isfinite(raw).all():
                raise ZsbenchError(
                    f'model "{ctx.label}": generate_unclipped returned shape '
                    f"{list(raw.shape)} (or non-finite values) where generate gave "
                    f"{list(images.shape)}. Fix: return the same rows as generate, before "
                    "the map into [0, 1].")
        mse = np.mean((raw - truth).reshape(len(raw), -1) ** 2, axis=1, dtype=np.float64)
        return Draws(request=request, factors=factors, images=images, found=judged["factors"],
                     errors=judged["errors"], residual=judged["residual"],
                     valid=judged["valid"], failed=judged["failed"], mse=mse)

    key = f"conditional:{split}:{samples}:{max_requests}:{judging.record()}:{bar}"
    return ctx.cached(key, compute)


def hole_depth(ctx: EvalContext, draws: Draws) -> DepthProfile | None:
    """The :class:`zsbench.judging.DepthProfile` of the hole's ``draws``: fail rate by the
    distance of each request from the nearest training point (rings of the grid step on
    gridded data, distance quantiles on continuous data). None without training points."""
    train = ctx.splits.get("train")
    if train is None or len(train) == 0:
        return None
    space = ctx.space
    return depth_profile(draws.factors, draws.failed, train.factors,
                         low=np.array([f.bounds[0] for f in space.factors]),
                         spans=factor_spans(space),
                         resolution=np.asarray(ctx.dataset.resolution, np.float64))


def diversity(draws: Draws, samples: int, spans: np.ndarray) -> float:
    """Mean spread of a request's valid draws: per request with at least two valid draws,
    the standard deviation of each recovered factor in units of its range (``spans [F]``),
    averaged over factors; then the mean over requests. 0 for a deterministic model; NaN
    when no request has two valid draws."""
    if samples < 2:
        return NAN
    found = draws.found / spans
    spreads = [found[rows].std(axis=0).mean() for r in np.unique(draws.request)
               if (rows := (draws.request == r) & draws.valid).sum() >= 2]
    return NAN if not spreads else float(np.mean(spreads))


def with_hole_control(scores: dict[str, Score], ctx: EvalContext,
                      ceiling: float) -> dict[str, Score]:
    """``scores`` with every ``hole_*`` score that declares no control given the control
    split's fail rate (``rim_gen_fail_rate``, or ``test_gen_fail_rate`` without a rim: the
    seen classes) at most ``ceiling``: a generator that fails more than that of what it
    was trained on is marked "(control failed)" on its hole scores and never ranked."""
    control = control_split(ctx.splits)
    if control is None:
        return scores
    return {k: replace(s, control=(f"{control}_gen_fail_rate", ceiling))
            if k.startswith("hole_") and s.control is None else s for k, s in scores.items()}


class ConditionalGeneration(Metric):
    """Conditional generation from every split's factors, read back exactly: fail rate, factor error, valid share, failure by depth.

    For each split ``s`` (train, test, rim, hole; at most ``max_requests`` evenly spaced
    points each), the model's ``generate`` is asked for each point's true factors
    ``samples`` times (fresh noise per draw; seeded from the job's seed and the split), and
    each draw is read back with the dataset's ``recover`` and judged by the suite's one
    rule, its ``[judging]`` table (:mod:`zsbench.judging`; the emergence monitor and the
    conditional pictures judge by the same rule). A draw is **valid** when it is an image
    of the family (recovery residual under the dataset's bar,
    :meth:`zsbench.plugin.Dataset.validity_threshold`; on a plain background, full
    contrast and nothing else drawn) and **fails** when it is invalid or its factors are
    off by more than the tolerance. ``tolerance`` (a share of every factor's range) and
    ``residual_threshold`` given here override the suite's rule for this metric only; the
    scores then say so (``judging_override`` = 1).

    Scores per split ``s``: ``s_gen_fail_rate``, ``s_gen_valid_share`` (higher is better),
    ``s_gen_err`` and ``s_gen_err_p90`` (per draw the mean over factors of the range-unit
    error; mean and 90th percentile over *valid* draws only: an invalid image's recovered
    factors say nothing), ``s_F_gen_err`` per factor ``F`` (mean, range units, valid draws),
    ``s_gen_mse`` (pixel MSE of the draw as drawn, unclipped, against the exact render of
    the request: what Liang et al. 2025 report; of ``generate_unclipped`` where the
    model offers it, its output before the map into [0, 1]; read it beside a blank
    frame's, which scores well on small objects), ``s_diversity`` (mean spread, in factor units, of a
    request's valid draws: 0 for a deterministic model; informational). Ratios:
    ``hole_rim_gen_err_ratio``, ``hole_test_gen_err_ratio``, ``hole_rim_gen_fail_ratio``,
    ``hole_rim_gen_mse_ratio`` (about 1: the hole is drawn as well as its surroundings).

    Failure by depth: ``hole_fail_ringK`` (gridded data: the fail rate of the hole requests
    at a distance in (K - 1, K] grid steps from the nearest training point) or
    ``hole_fail_depth_qK`` (continuous data: quartiles of that distance), and
    ``hole_half_fail_depth`` (higher is better): the depth, in grid steps (the dataset's
    resolution; quartile upper edges on continuous data), up to which every ring fails at
    most half its draws (0 when the first ring fails more). The judging: ``tolerance_F``
    per factor ``F`` (factor units) and ``judging_override``. Training dynamics, when the
    model was fitted with ``eval_every`` > 0 (the run's emergence monitor):
    ``hole_emergence_step`` and ``control_learned_step`` (see
    :func:`zsbench.emergence.emergence_step`; the control is the rim, or the test split).

    Headline: ``hole_gen_fail_rate``, ``hole_rim_gen_err_ratio``, ``hole_gen_valid_share``.
    Needs a model that can ``generate`` and a dataset that can ``recover``; for any other
    model (a plain autoencoder) it is skipped as not applicable.
    """

    name = "conditional_generation"
    requires = ("model.generate", "dataset.recover")
    split_parameters = ("splits",)

    def __init__(self, *, splits: list[str] = list(SPLITS),  # noqa: B006
                 samples: int = 4, tolerance: float | None = None,
                 max_requests: int | None = 256, margin: float = 0.1,
                 rim_ceiling: float = 0.5, residual_threshold: float | None = None) -> None:
        checks = (
            ("splits", splits, isinstance(splits, list) and len(splits) > 0
             and all(isinstance(s, str) for s in splits), "a list of split names"),
            ("samples", samples, isinstance(samples, int) and samples >= 1, "an integer >= 1"),
            ("tolerance", tolerance, tolerance is None or (
                isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool)
                and 0 < tolerance < 1), "a share of a factor's range in (0, 1), or leave it "
             "out and state the suite's [judging] tolerance"),
            ("max_requests", max_requests, max_requests is None
             or (isinstance(max_requests, int) and max_requests >= 1), "an integer >= 1"),
            ("margin", margin, isinstance(margin, (int, float)) and 0 <= margin < 1,
             "a fail-rate difference in [0, 1)"),
            ("rim_ceiling", rim_ceiling, isinstance(rim_ceiling, (int, float))
             and 0 < rim_ceiling <= 1, "a fail rate in (0, 1]"),
            ("residual_threshold", residual_threshold, residual_threshold is None
             or (isinstance(residual_threshold, (int, float)) and residual_threshold > 0),
             "a positive RMS pixel difference, or leave it out"),
        )
        for key, value, ok, what in checks:
            if not ok:
                raise PluginParameterError("metric", self.name, key, f"got {value!r}.",
                                           f"give {what}.")
        self.splits = splits
        self.samples = samples
        self.tolerance = tolerance
        self.max_requests = max_requests
        self.margin = margin
        self.rim_ceiling = rim_ceiling
        self.residual_threshold = residual_threshold

    def score_names(self, plan: SuitePlan) -> list[str]:
        names = plan.space.names
        per_split = [f"{s}_{q}" for s in self.splits
                     for q in ("gen_fail_rate", "gen_valid_share", "gen_err", "gen_err_p90",
                               "gen_mse", "diversity", *(f"{f}_gen_err" for f in names))]
        return [*per_split, "hole_rim_gen_err_ratio", "hole_test_gen_err_ratio",
                "hole_rim_gen_fail_ratio", "hole_rim_gen_mse_ratio", "hole_emergence_step",
                "control_learned_step", "hole_fail_ring*", "hole_fail_depth_q*",
                "hole_half_fail_depth", *(f"tolerance_{f}" for f in names),
                "judging_override"]

    def judging(self, ctx: EvalContext) -> Judging:
        """The rule this metric judges by (:func:`plugin_judging`)."""
        return plugin_judging(ctx, f'metric "{self.name}"', self.tolerance,
                              self.residual_threshold)

    def draws(self, ctx: EvalContext, split: str) -> Draws | None:
        """This metric's :class:`Draws` of ``split`` (shared with the pictures)."""
        return split_draws(ctx, split, samples=self.samples, max_requests=self.max_requests,
                           judging=self.judging(ctx))

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        scores: dict[str, Score] = {}
        items: dict[tuple[str, str], np.ndarray] = {}  # (split, quantity) -> one per draw

        def put(key: str, value: float, *, higher: bool = False, headline: bool = False,
                **extra: object) -> None:
            scores[key] = Score(float(value), higher_is_better=higher, headline=headline,
                                **extra)  # type: ignore[arg-type]

        for split in self.splits:
            d = self.draws(ctx, split)
            if d is None:
                for quantity in ("gen_fail_rate", "gen_valid_share", "gen_err", "gen_err_p90",
                                 "gen_mse", "diversity",
                                 *(f"{f}_gen_err" for f in ctx.space.names)):
                    put(f"{split}_{quantity}", NAN, higher=quantity == "gen_valid_share")
                continue
            # one item per draw; NaN where a draw does not count (the factor error of an
            # invalid draw)
            err = np.where(d.valid[:, None], d.errors, np.nan)
            per_draw = {"gen_fail_rate": d.failed.astype(np.float64),
                        "gen_valid_share": d.valid.astype(np.float64),
                        "gen_err": err.mean(axis=1), "gen_mse": d.mse}
            items[(split, "request")] = d.request  # draws of one request: one cluster
            for quantity, values in per_draw.items():
                items[(split, quantity)] = values
                put(f"{split}_{quantity}", nan_mean(values[np.isfinite(values)]),
                    higher=quantity == "gen_valid_share", items=values, clusters=d.request,
                    headline=split == "hole" and quantity in ("gen_fail_rate",
                                                              "gen_valid_share"))
            valid_err = per_draw["gen_err"][d.valid]
            put(f"{split}_gen_err_p90",
                float(np.percentile(valid_err, 90)) if len(valid_err) else NAN)
            put(f"{split}_diversity", diversity(d, self.samples, factor_spans(ctx.space)))
            for k, name in enumerate(ctx.space.names):
                put(f"{split}_{name}_gen_err", nan_mean(err[d.valid, k]), items=err[:, k],
                    clusters=d.request)
            if split == "hole":
                self._depth_scores(ctx, d, put)

        for key, quantity, control in RATIOS:
            num, den = items.get(("hole", quantity)), items.get((control, quantity))
            value = NAN if num is None or den is None else ratio(
                scores[f"hole_{quantity}"].value, scores[f"{control}_{quantity}"].value)
            put(key, value, headline=key == "hole_rim_gen_err_ratio",
                ratio_of=None if num is None or den is None else (num, den), target=1.0,
                clusters=None if num is None or den is None else (
                    items[("hole", "request")], items[(control, "request")]),
                control=(f"{control}_gen_fail_rate", float(self.rim_ceiling)))
        record = ctx.training.get("emergence") or {}
        hole_step, control_step = emergence_step(
            record.get("curve", []), margin=float(self.margin),
            rim_ceiling=float(self.rim_ceiling), control=record.get("control", "rim"))
        put("hole_emergence_step", hole_step)
        put("control_learned_step", control_step)
        judging = self.judging(ctx)
        for name, tol in zip(ctx.space.names, judging_tolerance(ctx.dataset, judging)):
            put(f"tolerance_{name}", float(tol))
        put("judging_override", float(judging is not ctx.judging))
        return with_hole_control(scores, ctx, float(self.rim_ceiling))

    @staticmethod
    def _depth_scores(ctx: EvalContext, d: Draws, put: Callable[..., None]) -> None:
        """The hole's failure by depth (:func:`hole_depth`): one score per ring or
        quantile bin (its items: the draws of that bin, NaN elsewhere) and the summary."""
        profile = hole_depth(ctx, d)
        if profile is None:
            put("hole_half_fail_depth", NAN, higher=True)
            return
        prefix = "hole_fail_" if profile.kind == "ring" else "hole_fail_depth_"
        failed = d.failed.astype(np.float64)
        for k, name in enumerate(profile.names):
            put(prefix + name, profile.fail[k], items=np.where(profile.bin == k, failed, np.nan),
                clusters=d.request)
        put("hole_half_fail_depth", profile.half_fail_depth, higher=True)
