"""The spread between training seeds in a regression check: how far another training seed
may move a score (:func:`seed_allowance`), from the runs' own seeds or from the spread a
baseline recorded on three seeds or more (``zsbench baseline RUN --seed-spread RUN3``,
``benchmarks/make_baselines.sh --seed-spread``), and the note when there is none."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from zsbench.intervals import t_quantile
from zsbench.summaries import SPREAD_SEEDS, Summary

ONE_SIDED: float = 0.975
"""Level of the one-sided t quantile applied to a recorded seed spread."""


def seed_allowance(base_std: float, base_n: int, new_std: float, new_n: int,
                   recorded: tuple[float, int] | None = None) -> float:
    """How far two runs' means over seeds may differ by the choice of training seeds alone:
    ``2 sigma sqrt(1/n_base + 1/n_new)``, ``sigma`` the larger sample std over seeds of the
    sides with two seeds or more (from the recorded population std). When neither side has
    :data:`~zsbench.summaries.SPREAD_SEEDS` seeds and ``recorded`` (a baseline's seed
    spread: sample std, seeds it was measured on) is given, ``t sigma sqrt(1/n_base +
    1/n_new)`` with that spread and the one-sided :data:`ONE_SIDED` t quantile of its
    degrees of freedom: a change of training trajectory alone is flagged at most
    ``1 - ONE_SIDED`` of the time. 0 when there is no spread."""
    sigmas = [(std * math.sqrt(n / (n - 1)), n) for std, n in ((base_std, base_n),
                                                               (new_std, new_n))
              if n >= 2 and math.isfinite(std)]
    scale = math.sqrt(1.0 / max(base_n, 1) + 1.0 / max(new_n, 1))
    usable = recorded is not None and math.isfinite(recorded[0]) and recorded[1] >= SPREAD_SEEDS
    if sigmas and (max(n for _, n in sigmas) >= SPREAD_SEEDS or not usable):
        return 2.0 * max(s for s, _ in sigmas) * scale
    if usable:
        level = 2.0 * ONE_SIDED - 1.0  # t_quantile is two-sided
        return t_quantile(int(recorded[1]) - 1, level) * float(recorded[0]) * scale
    return 0.0


def spread_note(base: Summary, new: Summary, rows: Sequence[Any], notes: list[str]) -> None:
    """One line when both sides have one seed and no seed spread is recorded: a change of
    training trajectory alone can then read as a regression."""
    one_seed = all(len(m.seeds) < 2 for s in (base, new) for m in s.models.values())
    scored = [r for r in rows if r.score != "(model)"]
    if not one_seed or not scored or any(r.recorded_spread for r in scored) or all(
            r.same_training for r in scored):
        return
    notes.append("one seed on each side and no seed spread recorded, so the check cannot "
                 "tell a regression from another training trajectory; record it with "
                 "`benchmarks/make_baselines.sh --seed-spread SUITE` (3 seeds) or "
                 "`zsbench baseline RUN --seed-spread RUN_WITH_3_SEEDS`.")
