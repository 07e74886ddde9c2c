"""Run-time checks of what a model hands back: its draws, in one place, and its scores.

Every caller of ``model.generate`` in a run (the evaluation in :func:`zsbench.runner.evaluate`,
the emergence monitor during ``fit``, the conditional metric and pictures) goes through
:func:`generate_checked` (or :func:`check_draws` on what it got): a draw is an image batch
``[N, C, H, W]`` shaped like the dataset's images, of a float dtype, finite and inside
[0, 1]. Nothing is clipped: a model that returns [0, 255] (or NaN, or another shape) fails
its job with a :class:`DrawError` that names the model (``model "LABEL": ...``), what was
seen and the fix, so it can never be scored, let alone marked best.

:func:`check_seeding` is the cheap run-time seed check: the same request and seed asked
twice must give the same images (a ``generate`` that draws from a global random state does
not). The conformance kit (:mod:`zsbench.testing.generators`) checks the rest of the contract.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from zsbench.errors import ZsbenchError
from zsbench.jobs import JobResult

#: Requests the run-time seed check asks twice (the first two rows of each split).
SEED_CHECK_ROWS = 4
#: Largest difference tolerated between two draws that must be identical (the kit's bar).
SEED_CHECK_TOLERANCE = 1e-5
#: Where the contract of ``generate`` is written.
CONTRACT = "docs/plugins.md, section Conditional generators"


class DrawError(ZsbenchError):
    """A draw of a model's ``generate`` that breaks the contract: its message starts
    ``model "LABEL": `` and says what was seen, and the fix."""

    def __init__(self, label: str, what: str, problem: str, fix: str) -> None:
        self.label = label
        self.what = what
        self.problem = problem
        self.fix = fix
        super().__init__(f'model "{label}": {what} {problem} The fault is the model\'s '
                         f"(its `generate`), not the dataset's. Fix: {fix}")


def check_draws(draws: Any, *, label: str, n: int, image_shape: Sequence[int],
                what: str = "generate") -> np.ndarray:
    """``draws`` as float32 ``[n, C, H, W]`` (``image_shape`` = ``(C, H, W)``, the dataset's
    images), or a :class:`DrawError`: another shape, a dtype that is not float, NaN or
    infinite values, values outside [0, 1]. ``what`` names the call in the message (e.g.
    ``generate on hole``)."""
    try:
        arr = np.asarray(draws)
    except Exception as exc:  # a ragged list, an object that is no array
        raise DrawError(label, what, f"returned {type(draws).__name__}, which is no array "
                        f"({type(exc).__name__}: {exc}).",
                        "return a float32 numpy array [N, C, H, W]; run the kit's "
                        "check_generate_shape_and_range.") from None
    expected = [int(n), *(int(s) for s in image_shape)]
    if list(arr.shape) != expected:
        raise DrawError(label, what, f"returned shape {list(arr.shape)} for {n} requests; "
                        f"expected [N, C, H, W] = {expected}, one image per requested row "
                        "shaped like the dataset's images.",
                        "return one image per row of the request, with the channel axis; "
                        f"see {CONTRACT}, and run the kit's check_generate_shape_and_range.")
    if not np.issubdtype(arr.dtype, np.floating):
        raise DrawError(label, what, f"returned dtype {arr.dtype}; expected float images in "
                        "[0, 1].",
                        "return float32 intensities in [0, 1] (divide 8-bit values by 255); "
                        "run the kit's check_generate_shape_and_range.")
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int((~finite.reshape(len(arr), -1)).any(axis=1).sum())
        raise DrawError(label, what, f"returned NaN or infinite values in {bad} of {n} "
                        "draws (the draws themselves, after training finished without a "
                        "non-finite loss).",
                        "look inside `generate`: its sampler (step sizes, divisions by a "
                        "noise level, the moving average of the weights) or its output "
                        "layer; run the kit's check_generate_shape_and_range.")
    lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
    if lo < 0.0 or hi > 1.0:
        scale = " (they look like 8-bit values: divide by 255)" if hi > 2.0 else ""
        raise DrawError(label, what, f"returned values in [{lo:.4g}, {hi:.4g}]; draws must be "
                        "images with intensities in [0, 1]. They are not clipped for it: a "
                        "draw outside [0, 1] would be scored as some other image.",
                        f"map the output into [0, 1]{scale}, e.g. end with a sigmoid or "
                        "clamp to [0, 1] inside `generate`; run the kit's "
                        "check_generate_shape_and_range.")
    return arr.astype(np.float32, copy=False)


def generate_checked(model: Any, factors: np.ndarray, *, seed: int, label: str,
                     image_shape: Sequence[int], what: str = "generate") -> np.ndarray:
    """``model.generate(factors, seed=seed)`` checked by :func:`check_draws`: float32
    ``[N, C, H, W]`` in [0, 1] for ``factors [N, F]``."""
    factors = np.asarray(factors, dtype=np.float64)
    return check_draws(model.generate(factors, seed=int(seed)), label=label, n=len(factors),
                       image_shape=image_shape, what=what)


def check_seeding(model: Any, splits: Mapping[str, Any], *, seed: int, label: str,
                  rows: int = SEED_CHECK_ROWS) -> None:
    """The cheap run-time check of a generator, before any metric asks it: a few requests
    (the first two rows of each non-empty split, ``rows`` in all, from ``splits``: name ->
    :class:`~zsbench.plugin.Split`) asked twice with ``seed`` must give draws that pass
    :func:`check_draws` and are the same images (within :data:`SEED_CHECK_TOLERANCE`).
    A :class:`DrawError` naming the kit's check otherwise (e.g. a ``generate`` that draws
    its noise from numpy's or torch's global state)."""
    full = [s for s in splits.values() if len(s)]
    if not full:
        return
    request = np.concatenate([np.asarray(s.factors[:2], dtype=np.float64)
                              for s in full])[:rows]
    shape = full[0].images.shape[1:]
    what = f"generate (asked twice for the same {len(request)} requests with seed={seed})"
    a = generate_checked(model, request, seed=seed, label=label, image_shape=shape, what=what)
    b = generate_checked(model, request, seed=seed, label=label, image_shape=shape, what=what)
    diff = float(np.abs(a.astype(np.float64) - b).max())
    if diff > SEED_CHECK_TOLERANCE:
        raise DrawError(label, what, f"gave different images (max difference {diff:.3g}): "
                        "its draws do not follow `seed` alone, so none of its scores could "
                        "be reproduced.",
                        "draw every random number from `seed` (zsbench.plugin.row_noise), "
                        "never from numpy's, torch's or python's global random state; run "
                        "the kit's check_generate_same_seed_same_images "
                        "(zsbench.testing.generators).")


def check_outputs(label: str, name: str, arr: np.ndarray, expected_rows: int) -> None:
    """A :class:`ZsbenchError` naming the model unless ``arr`` (its latents or
    reconstructions, ``[N, ...]``) has ``expected_rows`` finite rows."""
    if arr.ndim < 2 or len(arr) != expected_rows:
        raise ZsbenchError(f'model "{label}": {name} returned shape {list(arr.shape)} for '
                           f"{expected_rows} inputs. Fix: return one row per input (see "
                           "docs/plugins.md, section Model); run the conformance kit.")
    if not np.isfinite(arr).all():
        raise ZsbenchError(f'model "{label}": {name} returned NaN or infinite values. Fix: '
                           "check the training loss and learning rate of this model.")


def judge_scores(result: JobResult, n_metrics: int) -> None:
    """A job counts as failed (``status``, a one-line ``error``) when a metric or output met
    a bad draw (:class:`DrawError`: its scores are dropped), when a score is infinite (a
    diverged model; NaN stays: it is how a score says "undefined here"), or when its
    metrics gave no score at all and some failed (not when every one was n/a by design)."""
    infinite = [n for n, s in result.scores.items()
                if s.get("value") is not None and math.isinf(s["value"])]
    failed = {k: v for k, v in result.failures.items() if k.startswith("metric ")}
    bad_draw = next((f"{k}: {v.partition(': ')[2]}" for k, v in result.failures.items()
                     if v.startswith(f"{DrawError.__name__}: ")), None)
    if bad_draw:
        result.error = f"evaluating: {bad_draw}"
        result.scores.clear()  # a model that broke the contract of its draws is not scored
    elif infinite:
        result.error = (f"scoring: {len(infinite)} score(s) are infinite ("
                        f"{', '.join(infinite[:3])}{', ...' if len(infinite) > 3 else ''}): "
                        "the model diverged; lower the weights of its loss terms or its lr")
    elif n_metrics and not result.scores and failed:
        name, why = next(iter(failed.items()))
        result.error = (f"scoring: no score: {len(failed)} of {n_metrics} metric(s) failed, "
                        f"the first {name}: {why.splitlines()[0] if why else ''}")
    else:
        return
    result.status = "failed"
