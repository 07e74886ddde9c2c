"""The compact terminal leaderboard's pieces, and `zsbench plugins` listing every kind."""

from __future__ import annotations

import math

import pytest

from zsbench.cli import main
from zsbench.results import format_compact
from zsbench.terminal_board import abbreviate, terminal_width, two_lines
from zsbench.valid_share import share_note, share_score


@pytest.mark.parametrize(("value", "lo", "hi", "text"), [
    (0.0472, 0.0431, 0.0512, "0.047±0.004"),
    (0.0472, 0.046, 0.0487, "0.0472±0.0015"),  # a half-width starting with 1: two digits
    (123.4, 111.0, 135.0, "123±12"),
    (0.5, math.nan, math.nan, "0.5"),
    (math.nan, 0.0, 1.0, "-"),
    (1.0, 1.0, 1.0, "1±0"),
])
def test_compact_cells(value: float, lo: float, hi: float, text: str) -> None:
    assert format_compact(value, lo, hi) == text


def test_headers_abbreviate_and_break() -> None:
    assert two_lines("hole_rim_factor_err_ratio", "→1") == ("hole_rim_factor_",
                                                            "err_ratio →1")
    assert two_lines("seeds", "↓") == ("", "seeds ↓")
    assert len(abbreviate("hole_rim_factor_err_ratio", 12)) <= 12
    assert abbreviate("hole_fail_rate", 40) == "hole_fail_rate"


def test_terminal_width_from_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "97")
    assert terminal_width() == 97
    monkeypatch.setenv("COLUMNS", "wide")
    assert terminal_width() == 120  # not a terminal under pytest


def test_valid_only_errors_link_to_their_split_share() -> None:
    scores = {n: {"metric": "factor_recovery"} for n in
              ("hole_factor_err", "hole_valid_share", "hole_fail_rate", "rim_factor_err")}
    scores["test_peak_err"] = {"metric": "holdout_reconstruction"}
    assert share_score("hole_factor_err", scores) == "hole_valid_share"
    assert share_score("hole_fail_rate", scores) is None  # over every image
    assert share_score("rim_factor_err", scores) is None  # no rim share published
    assert share_score("test_peak_err", scores) is None  # another metric
    gen = {"hole_gen_err": {"metric": "g"}, "hole_gen_valid_share": {"metric": "g"}}
    assert share_score("hole_gen_err", gen) == "hole_gen_valid_share"
    assert share_note(0.02) == " (2 % valid)" and share_note(0.02, compact=True) == " v2%"
    assert share_note(0.5) == "" and share_note(None) == ""


def test_plugins_lists_every_kind_observers_and_executors_included(capsys) -> None:
    assert main(["plugins"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    kinds = {(r[0], r[1]) for r in rows if len(r) > 1}
    assert ("observer", "standard-mlflow") in kinds
    assert {("executor", "local"), ("executor", "pool")} <= kinds
    assert {k for k, _ in kinds} >= {"dataset", "model", "metric", "output", "executor",
                                     "observer"}
