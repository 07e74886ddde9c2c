"""Reachable strips: hole images, their reconstructions and the decoder's best attempts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zsbench.plugin import EvalContext, Output, capable
from zsbench.splits import even_rows
from zsbench_plugins.metrics._errors import per_image_bce
from zsbench_plugins.metrics._generative import (
    REACH_LR,
    REACH_MAX_IMAGES,
    REACH_STEPS,
    reachable,
    recovered,
    require,
)
from zsbench_plugins.outputs import _plot


class ReachableStrips(Output):
    """Reachable strips: ground truth, reconstruction and best reachable decoding per image.

    ``reachable_<split>.png`` (default split "hole") shows ``images`` images of the split,
    deepest into the hole first when depths are known: the exact image, the model's
    reconstruction (encode -> decode) and the decoding of the best latent the model's
    ``invert`` finds (the same search, budget and memo as the ``reachability`` metric when
    the parameters match). Each row label gives the mean BCE of that row; when the dataset
    can ``recover``, the factors recovered from the reachable images are printed above
    their column next to the true ones.
    """

    name = "reachable_strips"
    requires = ("model.encode", "model.decode", "model.invert")

    def __init__(self, *, split: str = "hole", images: int = 12, steps: int = REACH_STEPS,
                 lr: float = REACH_LR, max_images: int | None = REACH_MAX_IMAGES) -> None:
        self.split = split
        self.images = images
        self.steps = steps
        self.lr = lr
        self.max_images = max_images

    def write(self, ctx: EvalContext, directory: Path) -> list[Path]:
        """Write ``reachable_<split>.png`` into ``directory``; return ``[path]`` ([] when
        the split is absent or empty)."""
        require(ctx.model, "invert", "model", 'output "reachable_strips"')
        reach = reachable(ctx, self.split, steps=self.steps, lr=self.lr,
                          max_images=self.max_images)
        if reach is None:
            return []
        depth = ctx.splits[self.split].depth
        order = np.arange(len(reach.index))
        if depth is not None:
            order = np.argsort(-np.asarray(depth)[reach.index], kind="stable")
        pick = order[even_rows(len(order), self.images)] if depth is None else order[:self.images]
        truth = ctx.splits[self.split].factors[reach.index[pick]]
        rows = [reach.images[pick], reach.reconstructions[pick], reach.decoded[pick]]
        errs = [per_image_bce(reach.images[pick], r).mean() for r in rows[1:]]
        labels = ["ground truth", f"reconstruction\nBCE {errs[0]:.4f}",
                  f"best reachable\nBCE {errs[1]:.4f}"]
        names = ctx.space.names
        shown = list(range(min(2, len(names))))
        column = ["\n".join(f"{names[k]}={_plot.format_value(row[k])}" for k in shown)
                  for row in truth]
        subtitle = f"{self.steps} search steps from the encoder's mean"
        if capable(ctx.dataset, "recover"):
            rec = recovered(ctx, f"reachable:{self.split}:{self.steps}:{self.lr}:"
                                 f"{self.max_images}", reach.decoded)
            found = rec.factors[pick]
            column = [c + "\n→ " + ",".join(_plot.format_value(row[k]) for k in shown)
                      for c, row in zip(column, found)]
            subtitle += "; column labels: true factors, → recovered from the reachable image"
        path = Path(directory) / f"reachable_{self.split}.png"
        return [_plot.strip_rows(
            f"{ctx.label} (seed {ctx.seed}): can the decoder draw the {self.split} images?",
            labels, rows, path, subtitle=subtitle, column_labels=column)]
