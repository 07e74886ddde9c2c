"""Errors over valid images: which leaderboard scores cover only part of the images, and
over how many.

A metric that reads reconstructions or draws back into factors (``factor_recovery``,
``conditional_generation``) leaves out of its errors every image that is no image of the
family (a blurred blob, a blank frame): its errors then cover the *valid* images only. Such
a metric publishes, per split ``S``, the share of valid images as the score
``S_valid_share`` (or ``S_gen_valid_share``). The convention read here: a score of that
metric whose name says it is an error (it holds ``err``) and starts with ``S_`` covers the
valid images of split ``S`` only, and its valid share is that score. A model with few
valid images can show a small error over the few it drew: the leaderboard marks such a
cell with its share (:data:`SHOW_BELOW`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from zsbench.jobs import JobResult

SHOW_BELOW = 0.5
"""A valid-only error is marked with its valid share when the share is under this."""

SHARE_SUFFIXES: tuple[str, ...] = ("_valid_share", "_gen_valid_share")
"""The names of a split's valid share: ``S`` followed by one of these."""


def share_score(name: str, scores: dict[str, dict[str, Any]]) -> str | None:
    """The valid-share score that error ``name`` is averaged under, among one job's
    ``scores`` (``{name: {"metric", ...}}``), or None for a score over every image."""
    if "err" not in name or name.endswith(SHARE_SUFFIXES) or name not in scores:
        return None
    metric = scores[name].get("metric")
    split = name.split("_", 1)[0]
    for suffix in SHARE_SUFFIXES:
        share = split + suffix
        if share in scores and scores[share].get("metric") == metric:
            return share
    return None


def valid_shares(results: Sequence[JobResult], columns: Sequence[str]
                 ) -> dict[str, dict[str, float]]:
    """Per valid-only column, per model label, the mean over its successful seeds of the
    column's valid share (columns over every image are left out)."""
    out: dict[str, dict[str, float]] = {}
    for c in columns:
        per_label: dict[str, list[float]] = {}
        for r in results:
            if r.status != "ok":
                continue
            share = share_score(c, r.scores)
            value = r.scores[share].get("value") if share else None
            try:
                value = math.nan if value is None else float(value)
            except (TypeError, ValueError):
                value = math.nan
            if math.isfinite(value):
                per_label.setdefault(r.label, []).append(value)
        if per_label:
            out[c] = {label: sum(v) / len(v) for label, v in per_label.items()}
    return out


def share_note(share: float | None, *, compact: bool = False) -> str:
    """The mark after a valid-only error whose share is under :data:`SHOW_BELOW`:
    ``" (2 % valid)"`` (``" v2%"`` compact), else ``""``."""
    if share is None or not math.isfinite(share) or share >= SHOW_BELOW:
        return ""
    pct = f"{100 * share:.0f}" if share >= 0.01 or share == 0 else f"{100 * share:.1g}"
    return f" v{pct}%" if compact else f" ({pct} % valid)"
