"""Decoder reachability: can the decoder draw a hole image at all, for *some* latent?"""

from __future__ import annotations

import numpy as np

from zsbench.emergence import control_split as hole_control
from zsbench.errors import PluginParameterError
from zsbench.plugin import EvalContext, Metric, Score, SuitePlan, capable
from zsbench.recovery import factor_errors
from zsbench_plugins.metrics._errors import (
    difference_score,
    mean_score,
    per_image_bce,
    per_image_excess_bce,
)
from zsbench_plugins.metrics._generative import (
    REACH_LR,
    REACH_MAX_IMAGES,
    REACH_STEPS,
    reachable,
    recovered,
    require,
)

NAN = float("nan")
SPLITS: tuple[str, ...] = ("hole", "rim", "test")


def control_split(ctx: EvalContext) -> str:
    """The split the hole is compared with: "rim" (fresh points just outside the hole)
    when the run has one, else "test" (:func:`zsbench.emergence.control_split`)."""
    return hole_control(ctx.splits) or "test"


class Reachability(Metric):
    """Decoder reachability: best reachable error per split, and the encoder and decoder gaps.

    For each image of the hole, rim (when the run has that split) and test splits (an even
    subsample of at most ``max_images`` per split), the model's ``invert`` searches the latent
    whose decoding best reproduces it (torch models: Adam from the encoder's mean, ``steps``
    steps at rate ``lr`` in units of each training latent's standard deviation, on the
    model's own reconstruction loss). The decoded image is the
    best the decoder can draw; the error is the per-image BCE the reconstruction metric uses.

    Scores per split ``s`` (all lower is better except ``reachable_share``):
    ``s_reach_bce`` (mean BCE of the best decoding), ``s_reach_excess`` (the same net of the
    target's own entropy floor, as ``holdout_reconstruction``'s excess: 0 for a perfect
    decoding of any image),
    ``s_encoder_gap`` (reconstruction BCE - reachable BCE on the same images: what a better
    encoder could still gain), and, when the dataset can ``recover`` factors from images,
    ``s_reach_factor_err`` (mean |recovered - true| of the decoded images in units of each
    factor's range, over factors and images) and ``s_reachable_share`` (share of images
    whose decoding lands within ``factor_tolerance`` range units on every factor).
    ``decoder_gap`` = hole_reach_excess - control's, and ``decoder_factor_gap`` the same for
    the factor error, where the control is the rim when the run has one, else the test
    split: a decoder that can draw the hole as well as its surroundings scores 0.

    A model without ``invert`` (see :func:`zsbench.plugin.capable`) is skipped: "n/a",
    with the reason, no failure. Every score carries its per-image values (the gaps both
    groups) for a bootstrap interval over images.
    """

    name = "reachability"
    requires = ("model.encode", "model.decode", "model.invert")

    def __init__(self, *, steps: int = REACH_STEPS, lr: float = REACH_LR,
                 max_images: int | None = REACH_MAX_IMAGES,
                 factor_tolerance: float = 0.05) -> None:
        """``steps``/``lr``: the latent search's budget and rate (passed to ``invert`` when
        it takes them); ``max_images``: images per split (None: all); ``factor_tolerance``:
        range units within which a decoding counts as reaching its target."""
        for key, value, ok in (
            ("steps", steps, isinstance(steps, int) and steps >= 0),
            ("lr", lr, isinstance(lr, (int, float)) and 0 < lr < float("inf")),
            ("max_images", max_images,
             max_images is None or (isinstance(max_images, int) and max_images >= 1)),
            ("factor_tolerance", factor_tolerance,
             isinstance(factor_tolerance, (int, float)) and factor_tolerance > 0),
        ):
            if not ok:
                raise PluginParameterError("metric", self.name, key, f"got {value!r}.",
                                           "steps >= 0, lr > 0, max_images >= 1, "
                                           "factor_tolerance > 0.")
        self.steps = steps
        self.lr = lr
        self.max_images = max_images
        self.factor_tolerance = factor_tolerance

    def score_names(self, plan: SuitePlan) -> list[str]:
        quantities = ("reach_bce", "reach_excess", "encoder_gap", "reach_factor_err",
                      "reachable_share")
        return [*(f"{s}_{q}" for s in SPLITS for q in quantities), "decoder_gap",
                "decoder_factor_gap"]

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        require(ctx.model, "invert", "model", 'metric "reachability"')
        can_recover = capable(ctx.dataset, "recover")
        scores: dict[str, Score] = {}
        excess: dict[str, np.ndarray | None] = {}
        ferr: dict[str, np.ndarray | None] = {}
        for split in SPLITS:
            if split == "rim" and split not in ctx.splits:
                continue
            reach = reachable(ctx, split, steps=self.steps, lr=self.lr,
                              max_images=self.max_images)
            values: dict[str, np.ndarray | None] = dict.fromkeys(
                ("reach_bce", "reach_excess", "encoder_gap", "reach_factor_err",
                 "reachable_share"))
            if reach is not None:
                reach_bce = per_image_bce(reach.images, reach.decoded)
                recon_bce = per_image_bce(reach.images, reach.reconstructions)
                values.update(reach_bce=reach_bce,
                              reach_excess=per_image_excess_bce(reach.images, reach.decoded),
                              encoder_gap=recon_bce - reach_bce)
                if can_recover:
                    rec = recovered(ctx, f"reachable:{split}:{self.steps}:{self.lr}:"
                                         f"{self.max_images}", reach.decoded,
                                    who='metric "reachability"')
                    err = factor_errors(ctx.dataset, ctx.splits[split].factors[reach.index],
                                        rec.factors)
                    values["reach_factor_err"] = err.mean(axis=1)
                    values["reachable_share"] = (err.max(axis=1) <= self.factor_tolerance
                                                 ).astype(np.float64)
            excess[split] = values["reach_excess"]
            ferr[split] = values["reach_factor_err"]
            for quantity, items in values.items():
                key = f"{split}_{quantity}"
                scores[key] = mean_score(
                    items, higher_is_better=quantity == "reachable_share",
                    headline=key in {"hole_reach_excess", "hole_encoder_gap"})
        control = control_split(ctx)
        scores["decoder_gap"] = difference_score(excess["hole"], excess[control],
                                                 headline=True)
        scores["decoder_factor_gap"] = difference_score(ferr["hole"], ferr[control])
        return scores
