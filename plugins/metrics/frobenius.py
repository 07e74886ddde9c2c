"""Per-image Frobenius norm of the reconstruction error: its mean and its tail (E3)."""

from __future__ import annotations

import numpy as np

from zsbench.plugin import EvalContext, Metric, Score, SuitePlan
from zsbench_plugins.metrics._errors import per_image_frobenius, split_images

NAN = float("nan")
PERCENTILES: tuple[int, ...] = (50, 90, 99)


class Frobenius(Metric):
    """Frobenius norm of (reconstruction - input) per image: mean, p50, p90 and p99.

    On ``split`` (test by default): ``frob_mean``, ``frob_p50``, ``frob_p90``, ``frob_p99``
    (percentiles with numpy's linear interpolation), all lower is better. A model can win on
    the mean and lose on the tail (E3: the AE against the VAE). With ``split = "hole"`` and
    no hole the scores are NaN; any other missing split is an error.
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
            mean, tail = NAN, [NAN] * len(PERCENTILES)
        else:
            norms = per_image_frobenius(*pair)
            mean = float(norms.mean())
            tail = [float(v) for v in np.percentile(norms, PERCENTILES)]
        scores = {"frob_mean": Score(mean, higher_is_better=False, headline=True)}
        for p, value in zip(PERCENTILES, tail):
            scores[f"frob_p{p}"] = Score(value, higher_is_better=False, headline=p == 99)
        return scores
