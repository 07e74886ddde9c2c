"""Per-image Frobenius norm of the reconstruction error: its mean and its tail (E3)."""

from __future__ import annotations

import numpy as np

from zsbench.plugin import EvalContext, Metric, Score, SuitePlan
from zsbench_plugins.metrics._errors import mean_score, per_image_frobenius, split_images

NAN = float("nan")
PERCENTILES: tuple[int, ...] = (50, 90, 99)


class Frobenius(Metric):
    """Frobenius norm of (reconstruction - input) per image: mean, p50, p90 and p99.

    On ``split`` (test by default): ``frob_mean``, ``frob_p50``, ``frob_p90``, ``frob_p99``
    (percentiles with numpy's linear interpolation), all lower is better. A model can win on
    the mean and lose on the tail (E3: the AE against the VAE). ``frob_tail_ratio`` = p99 /
    p50 describes the tail's *shape*, free of scale: how much worse the worst 1 % is than the
    typical image (1: every image equally bad). It is a shape, not a quality: a model that
    fails every image alike scores 1, so read it next to ``frob_mean``. With ``split =
    "hole"`` and no hole the scores are NaN; any other missing split is an error.
    ``frob_mean`` carries its per-image norms (a bootstrap interval over images); the
    percentiles and the tail ratio get an interval over seeds only.
    """

    name = "frobenius"

    def __init__(self, *, split: str = "test") -> None:
        """``split``: the split whose reconstructions are measured."""
        self.split = split

    split_parameters = ("split",)

    def score_names(self, plan: SuitePlan) -> list[str]:
        return ["frob_*"]

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        pair = split_images(ctx, self.split, required=self.split != "hole")
        if pair is None:
            norms, tail = None, [NAN] * len(PERCENTILES)
        else:
            norms = per_image_frobenius(*pair)
            tail = [float(v) for v in np.percentile(norms, PERCENTILES)]
        scores = {"frob_mean": mean_score(norms, headline=True)}
        for p, value in zip(PERCENTILES, tail):
            scores[f"frob_p{p}"] = Score(value, higher_is_better=False, headline=p == 99)
        p50, p99 = tail[PERCENTILES.index(50)], tail[PERCENTILES.index(99)]
        # all perfect: every image equally good (1); a perfect median alone: no ratio (NaN)
        ratio = p99 / p50 if p50 > 0 else (1.0 if p99 == 0 else NAN)
        scores["frob_tail_ratio"] = Score(ratio, higher_is_better=False, headline=False)
        return scores
