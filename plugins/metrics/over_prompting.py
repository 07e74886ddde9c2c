"""Hidden capabilities (Park et al. 2024): the held-out class asked for through a prompt that
differs from it (over-prompting), the draws scored against the *intended* factors.

Park, Okawa, Lee, Lubana and Tanaka ("Emergence of hidden capabilities", NeurIPS 2024;
``scripts/get_capability.py``) prompt every checkpoint with colours beyond the trained blue
(from (0.4, 0.4, 0.6) to (0.05, 0.05, 0.95)) and find the held-out blue-small circle drawn
many steps before the plain prompt draws it. Here the prompt is a stated parameter of the
suite (``prompt = { colour = 1.3 }``: a factor set to a value; ``shift = { radius = -0.1 }``:
a factor moved), asked of the final model and, through :meth:`OverPrompting.monitor_prompts`,
of the emergence monitor at every evaluation (zsbench.emergence.over_prompt).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zsbench.draws import generate_checked
from zsbench.emergence import control_split, emergence_step, over_prompt
from zsbench.errors import PluginParameterError
from zsbench.plugin import EvalContext, Metric, Score, SuitePlan
from zsbench.recovery import context_validity_threshold, judge_draws, verify_recover
from zsbench.seeds import derive_seed
from zsbench.splits import even_rows
from zsbench_plugins.metrics._errors import nan_mean

NAN = float("nan")


def _table(name: str, key: str, value: Any) -> dict[str, float]:
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
            and np.isfinite(v) for k, v in value.items()):
        raise PluginParameterError("metric", name, key, f"got {value!r}.",
                                   f"give a table of factor names to numbers, e.g. {key} = "
                                   "{ colour = 1.3 }.")
    return {k: float(v) for k, v in value.items()}


class OverPrompting(Metric):
    """The hole asked through over-prompted requests, read back against the intended factors.

    For at most ``max_requests`` evenly spaced hole points (``samples`` draws each), the
    model is asked for the *prompt* (:func:`zsbench.emergence.over_prompt`: each factor of
    ``prompt`` set to its value, each of ``shift`` moved by its value) and every draw is
    judged, by the suite's one rule, against the point it was meant to draw. A prompt
    outside the dataset's space (a colour beyond the trained range) is asked only when the
    suite says so (``beyond_space = true``): the model is then asked for factors it has
    never been conditioned on, by the suite's explicit choice; else the metric fails
    naming the factor. Without ``prompt`` and ``shift`` the prompt is the target itself
    (the plain request: a check that the scores match ``conditional_generation``'s).

    Scores (``L`` = ``label``, default "prompted"): ``hole_L_fail_rate``,
    ``hole_L_valid_share`` (higher is better), ``hole_L_err`` (mean range-unit factor error
    of the valid draws), ``hole_L_found_F`` (the mean recovered factor ``F`` of the valid
    draws: where the model lands) and ``hole_L_emergence_step``: the first evaluation from
    which the over-prompted hole stays within ``margin`` of the control while the control's
    fail rate stays at most ``rim_ceiling`` (the monitor asks the same prompts; NaN if
    never or without a curve). Beside ``conditional_generation``'s ``hole_gen_fail_rate`` and
    ``hole_emergence_step``, a lower fail rate or earlier step under over-prompting is a
    hidden capability. Every hole score is controlled, as the plain ones: the control
    split's ``*_gen_fail_rate`` at most ``rim_ceiling``."""

    name = "over_prompting"
    requires = ("model.generate", "dataset.recover")
    factor_parameters = ("prompt", "shift")

    def __init__(self, *, prompt: dict[str, float] | None = None,
                 shift: dict[str, float] | None = None, beyond_space: bool = False,
                 label: str = "prompted", samples: int = 2, max_requests: int | None = 256,
                 margin: float = 0.1, rim_ceiling: float = 0.5) -> None:
        self.prompt = prompt
        self.shift = shift
        self.prompt_ = _table(self.name, "prompt", prompt or {})
        self.shift_ = _table(self.name, "shift", shift or {})
        checks = (("beyond_space", isinstance(beyond_space, bool), "true or false"),
                  ("label", isinstance(label, str) and label.isidentifier(),
                   'a short name such as "prompted"'),
                  ("samples", isinstance(samples, int) and samples >= 1, "an integer >= 1"),
                  ("max_requests", max_requests is None or (
                      isinstance(max_requests, int) and max_requests >= 1), "an integer >= 1"),
                  ("margin", isinstance(margin, (int, float)) and 0 <= margin < 1,
                   "a fail-rate difference in [0, 1)"),
                  ("rim_ceiling", isinstance(rim_ceiling, (int, float))
                   and 0 < rim_ceiling <= 1, "a fail rate in (0, 1]"))
        for key, ok, what in checks:
            if not ok:
                raise PluginParameterError("metric", self.name, key,
                                           f"got {locals()[key]!r}.", f"give {what}.")
        self.beyond_space = beyond_space
        self.label = label
        self.samples = samples
        self.max_requests = max_requests
        self.margin = margin
        self.rim_ceiling = rim_ceiling

    @property
    def key(self) -> str:
        """The request set's name in the scores and the emergence curve: ``hole_LABEL``."""
        return f"hole_{self.label}"

    def monitor_prompts(self) -> dict[str, dict[str, dict[str, float]]]:
        """What the emergence monitor asks beside the plain hole (zsbench.runner)."""
        return {self.key: {"prompt": dict(self.prompt_), "shift": dict(self.shift_)}}

    def score_names(self, plan: SuitePlan) -> list[str]:
        k = self.key
        return [f"{k}_fail_rate", f"{k}_valid_share", f"{k}_err", f"{k}_emergence_step",
                *(f"{k}_found_{f}" for f in plan.space.names)]

    def prompts(self, ctx: EvalContext, targets: np.ndarray) -> np.ndarray:
        """The prompts ``[N, F]`` for ``targets [N, F]``; a :class:`PluginParameterError`
        when one leaves the space and the suite did not allow it (``beyond_space``)."""
        prompts = over_prompt(targets, ctx.space.names, prompt=self.prompt_,
                              shift=self.shift_)
        for k, factor in enumerate(ctx.space.factors):
            lo, hi = factor.bounds
            out = (prompts[:, k] < lo) | (prompts[:, k] > hi)
            if out.any() and not self.beyond_space:
                raise PluginParameterError(
                    "metric", self.name, "beyond_space",
                    f'the prompts put factor "{factor.name}" at {prompts[out, k].min():g}..'
                    f"{prompts[out, k].max():g}, outside the space [{lo:g}, {hi:g}] the model "
                    "was trained in.", "set beyond_space = true to ask for it on purpose "
                    "(over-prompting beyond the trained range), or prompt inside the space.")
        return prompts

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        k, names = self.key, list(ctx.space.names)
        hole = ctx.splits.get("hole")
        control = control_split(ctx.splits)
        ctl = None if control is None else (f"{control}_gen_fail_rate",
                                            float(self.rim_ceiling))
        scores: dict[str, Score] = {}
        if hole is None or len(hole) == 0:
            for name in self.score_names(SuitePlan(space=ctx.space, splits=())):
                scores[name] = Score(NAN, higher_is_better=name.endswith("valid_share"))
            return scores
        verify_recover(ctx, f'metric "{self.name}"')
        targets = hole.factors[np.repeat(even_rows(len(hole), self.max_requests),
                                         self.samples)].astype(np.float64)
        draws = generate_checked(ctx.model, self.prompts(ctx, targets),
                                 seed=derive_seed(ctx.seed, f"over_prompting:{self.label}"),
                                 label=ctx.label, image_shape=hole.images.shape[1:],
                                 what=f"generate (over-prompted hole, {self.label})")
        judged = judge_draws(ctx.dataset, targets, draws,
                             threshold=context_validity_threshold(ctx), judging=ctx.judging)
        failed = judged["failed"].astype(np.float64)
        valid = judged["valid"]
        err = np.where(valid, judged["errors"].mean(axis=1), np.nan)
        scores[f"{k}_fail_rate"] = Score(float(failed.mean()), higher_is_better=False,
                                         headline=True, items=failed, control=ctl)
        scores[f"{k}_valid_share"] = Score(float(valid.mean()), higher_is_better=True,
                                           items=valid.astype(np.float64), control=ctl)
        scores[f"{k}_err"] = Score(nan_mean(err[valid]), higher_is_better=False, items=err,
                                   control=ctl)
        for j, name in enumerate(names):
            found = np.where(valid, judged["factors"][:, j], np.nan)
            scores[f"{k}_found_{name}"] = Score(nan_mean(found[valid]),
                                                higher_is_better=False, items=found)
        scores[f"{k}_emergence_step"] = Score(self._emergence(ctx), higher_is_better=False,
                                              control=ctl)
        return scores

    def _emergence(self, ctx: EvalContext) -> float:
        """The emergence step of the over-prompted hole, off the monitor's curve."""
        record = ctx.training.get("emergence") or {}
        key = f"{self.key}_fail_rate"
        rows = [{**r, "hole_fail_rate": r[key]} for r in record.get("curve", []) if key in r]
        step, _ = emergence_step(rows, margin=float(self.margin),
                                 rim_ceiling=float(self.rim_ceiling),
                                 control=record.get("control", "rim"))
        return step
