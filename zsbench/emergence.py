"""When is the hole learned? A conditional generator asked, during training, for a fixed set
of hole requests and control requests: the rim (fresh points just outside the hole, the
hole's fair control) or, where the run has no rim (a hole on the edge of the space, a held-out
class), the test split (held-out points of the seen region).

The runner hands an :class:`EmergenceMonitor` to ``fit(..., monitor=...)`` of every model
whose ``fit`` takes one; the model calls it every ``eval_every`` steps (see
:data:`zsbench.plugin.Monitor`). Each call generates one draw per request (the same seed at
every step, so the curves compare like with like), recovers the draws' factors and records
the hole's and the rim's fail rates and valid shares. :func:`emergence_step` reads the step
at which the hole is learned off the curve: published work (Okawa et al. 2023, Park et al.
2024) finds the capability emerges suddenly, and late.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zsbench.draws import generate_checked
from zsbench.judging import Judging
from zsbench.plugin import Dataset, Model, Split
from zsbench.recovery import judge_draws, judging_tolerance, validity_threshold
from zsbench.seeds import derive_seed
from zsbench.splits import even_rows

#: Requests per split (hole, rim) asked at every evaluation.
EMERGENCE_REQUESTS = 64


def control_split(splits: dict[str, Split]) -> str | None:
    """The hole's control: "rim" when the run has one, else "test"; None without either."""
    return next((s for s in ("rim", "test") if s in splits and len(splits[s]) > 0), None)


def over_prompt(targets: np.ndarray, names: Sequence[str], *,
                prompt: Mapping[str, float] | None = None,
                shift: Mapping[str, float] | None = None) -> np.ndarray:
    """Over-prompting (Park et al. 2024): the prompts ``float64 [N, F]`` for the intended
    ``targets [N, F]`` (columns ``names``), factor ``F`` set to ``prompt[F]`` or moved by
    ``shift[F]`` (e.g. ``prompt = {"colour": 1.3}``: a colour beyond the trained blue).
    Draws asked for the prompts are judged against the targets."""
    out = np.array(targets, dtype=np.float64, copy=True)
    for table, moves in ((prompt or {}, False), (shift or {}, True)):
        for name, value in table.items():
            k = list(names).index(name)
            out[:, k] = out[:, k] + float(value) if moves else float(value)
    return out


@dataclass
class EmergenceMonitor:
    """Records, at each call ``monitor(step, model)``, the fail rate and valid share of one
    draw per request for ``requests`` (``{"hole": [n, F], "rim": [m, F]}``), judged with
    :func:`zsbench.recovery.judge_draws` by the suite's one rule ``judging`` (the rule of
    ``conditional_generation`` and the pictures) against the validity bar of the training
    images (computed once, at the first call). ``curve`` holds one row per call:
    ``{"step", "hole_fail_rate", "hole_valid_share", "C_fail_rate", "C_valid_share"}`` with
    ``C`` the control split ("rim" or "test")."""

    dataset: Dataset
    requests: dict[str, np.ndarray]
    train_images: np.ndarray
    seed: int
    judging: Judging = field(default_factory=Judging)
    curve: list[dict[str, float]] = field(default_factory=list)
    threshold_: float | None = None
    label: str = ""  # the model's label in the suite, for the messages of bad draws
    #: over-prompted hole requests asked beside the plain ones: name (e.g.
    #: "hole_prompted") -> {"prompt": {...}, "shift": {...}} (see :func:`over_prompt`)
    prompts: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    #: per call, each request set's recovered factors (rounded): the concept-space paths
    found: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def for_splits(cls, dataset: Dataset, splits: dict[str, Split], *, seed: int,
                   n: int = EMERGENCE_REQUESTS,
                   judging: Judging | None = None) -> EmergenceMonitor | None:
        """The monitor for a run's splits: ``n`` evenly spaced hole requests and as many of
        the control (:func:`control_split`), judged by ``judging`` (the suite's; None: the
        default rule), or None when there is no hole, no control, or the dataset cannot
        ``recover``."""
        from zsbench.plugin import capable

        control = control_split(splits)
        if not capable(dataset, "recover") or control is None:
            return None
        if any(s not in splits or len(splits[s]) == 0 for s in ("hole", "train")):
            return None
        requests = {s: splits[s].factors[even_rows(len(splits[s]), n)]
                    for s in ("hole", control)}
        return cls(dataset=dataset, requests=requests, train_images=splits["train"].images,
                   seed=derive_seed(seed, "emergence"), judging=judging or Judging())

    def __call__(self, step: int, model: Model) -> None:
        if self.threshold_ is None:
            self.threshold_ = validity_threshold(self.dataset, self.train_images)
        row: dict[str, float] = {"step": int(step)}
        found: dict[str, Any] = {"step": int(step)}
        asked = {**{s: (r, r) for s, r in self.requests.items()},
                 **{name: (over_prompt(self.requests["hole"], self.dataset.space.names,
                                       **spec), self.requests["hole"])
                    for name, spec in self.prompts.items()}}
        for split, (prompts, requests) in asked.items():
            draws = generate_checked(model, prompts, seed=self.seed,
                                     label=self.label or model.name,
                                     image_shape=self.train_images.shape[1:],
                                     what=f"generate (emergence monitor, step {step}, "
                                          f"{split} requests)")
            judged = judge_draws(self.dataset, requests, draws, threshold=self.threshold_,
                                 judging=self.judging)
            row[f"{split}_fail_rate"] = float(judged["failed"].mean())
            row[f"{split}_valid_share"] = float(judged["valid"].mean())
            found[split] = np.round(judged["factors"], 4).tolist()
        self.curve.append(row)
        self.found.append(found)

    def record(self) -> dict[str, Any]:
        """What the job result keeps (``training["emergence"]``, in metrics.json): the
        judging rule as one line (``judging``) among the requests and the curve."""
        tol = judging_tolerance(self.dataset, self.judging)
        return {"judging": self.judging.describe(self.dataset.space.names, tol),
                "control": next(s for s in self.requests if s != "hole"),
                "requests": {s: len(r) for s, r in self.requests.items()},
                "curve": list(self.curve), "prompts": dict(self.prompts),
                "request_factors": {s: np.round(r, 4).tolist()
                                    for s, r in self.requests.items()},
                "found": list(self.found)}


def emergence_step(curve: list[dict[str, float]], *, margin: float = 0.1,
                   rim_ceiling: float = 0.5, control: str = "rim") -> tuple[float, float]:
    """``(hole_emergence_step, control_learned_step)`` read off a monitor's ``curve``.

    ``control_learned_step``: the first evaluation from which the control's (``control``:
    "rim" or "test") fail rate stays at or below ``rim_ceiling`` (the seen neighbourhood is
    drawn right). ``hole_emergence_step``: the first evaluation from which, at every later
    evaluation, the control is learned in that sense *and* the hole's fail rate stays within
    ``margin`` of the control's. A model that fails everywhere has a hole "as good as its
    rim" from the start; the control condition keeps it from being scored as having learned
    the hole. NaN when never (or no curve)."""
    key = f"{control}_fail_rate"
    rows = sorted((r for r in curve if key in r), key=lambda r: r["step"])
    if not rows:
        return math.nan, math.nan
    control_ok = [r[key] <= rim_ceiling for r in rows]
    hole_ok = [ok and r["hole_fail_rate"] <= r[key] + margin
               for ok, r in zip(control_ok, rows)]

    def first_stable(flags: list[bool]) -> float:
        step = math.nan
        for r, ok in zip(reversed(rows), reversed(flags)):
            if not ok:
                break
            step = float(r["step"])
        return step

    return first_stable(hole_ok), first_stable(control_ok)
