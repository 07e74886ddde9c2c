"""A generator that fails its control (more than half of the seen classes' or rim's
requests) gets "(control failed)" on its hole scores in the leaderboard, the report and
``compare``, and is never marked best."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from zsbench.comparison import compare
from zsbench.comparison_text import CONTROL_FAILED, format_comparison
from zsbench.jobs import JobResult
from zsbench.plugin import Score, Split
from zsbench.report import _leaderboard
from zsbench.results import (
    MANIFEST,
    best_marks,
    format_leaderboard,
    leaderboard_frame,
    write_json,
    write_results,
)
from zsbench.summaries import summarize_results
from zsbench.variants import Variant, combined_board, combined_rows
from zsbench_plugins.metrics.conditional_generation import with_hole_control

CONTROL = ["test_gen_fail_rate", 0.5]


def _result(label: str, hole: float, test: float) -> JobResult:
    rec = {"higher_is_better": False, "headline": True, "metric": "conditional_generation"}
    return JobResult(label=label, plugin="toy", seed=0, status="ok", scores={
        "hole_gen_fail_rate": {**rec, "value": hole, "control": CONTROL},
        "test_gen_fail_rate": {**rec, "value": test, "headline": False}})


# "dead" learned nothing it saw (96 % of its seen-class requests fail): its lower hole fail
# rate means nothing; "good" and "fair" learned the seen classes
RESULTS = [_result("dead", 0.5, 0.96), _result("good", 0.7, 0.05), _result("fair", 0.9, 0.2)]


def test_the_metric_gives_hole_scores_the_control_split_fail_rate() -> None:
    def split(n: int) -> Split:
        return Split(factors=np.zeros((n, 2)), images=np.zeros((n, 1, 2, 2)))

    scores = {"hole_gen_fail_rate": Score(0.4, higher_is_better=False),
              "hole_rim_gen_err_ratio": Score(1.0, higher_is_better=False,
                                              control=("rim_gen_fail_rate", 0.3)),
              "test_gen_fail_rate": Score(0.9, higher_is_better=False)}
    held_out_class = SimpleNamespace(splits={"train": split(4), "test": split(2),
                                             "hole": split(2)})
    out = with_hole_control(scores, held_out_class, 0.5)
    assert out["hole_gen_fail_rate"].control == ("test_gen_fail_rate", 0.5)
    assert out["hole_rim_gen_err_ratio"].control == ("rim_gen_fail_rate", 0.3)  # kept
    assert out["test_gen_fail_rate"].control is None
    with_rim = SimpleNamespace(splits={**held_out_class.splits, "rim": split(2)})
    assert with_hole_control(scores, with_rim, 0.5)["hole_gen_fail_rate"].control == (
        "rim_gen_fail_rate", 0.5)


def test_the_leaderboard_marks_a_failed_control_and_never_bolds_it() -> None:
    df = leaderboard_frame(RESULTS, ["hole_gen_fail_rate"])
    marks = best_marks(df)["hole_gen_fail_rate"]
    assert marks["dead"] == "control failed" and marks["good"] == "best"
    assert marks.get("fair") != "control failed"
    text = format_leaderboard(df, sort="hole_gen_fail_rate")
    dead_line = next(line for line in text.splitlines() if "dead" in line)
    assert "control failed" in dead_line and "**" not in dead_line
    assert text.index("good") < text.index("dead")  # ranked after the models that learned


def test_the_report_marks_a_failed_control() -> None:
    html = _leaderboard(RESULTS, ["hole_gen_fail_rate"], None)
    dead_row = next(row for row in html.split("<tr") if ">dead<" in row)
    assert 'class="control"' in dead_row and "control failed" in dead_row
    assert 'class="best"' not in dead_row


def test_compare_marks_a_failed_control_on_the_side_where_it_failed() -> None:
    manifest = {"suite": {"name": "s"}, "seeds": [0], "data_seed": 0}
    base = summarize_results(RESULTS, manifest, None, source="base")
    learned = [_result("dead", 0.5, 0.3), *RESULTS[1:]]  # its control now passes
    new = summarize_results(learned, manifest, None, source="new")
    assert base.models["dead"].scores["hole_gen_fail_rate"].control == ("test_gen_fail_rate",
                                                                        0.5)
    text = format_comparison(compare(base, new, scores=["hole_gen_fail_rate"]))
    dead = next(line for line in text.splitlines() if line.startswith("| dead"))
    good = next(line for line in text.splitlines() if line.startswith("| good"))
    cells = [c.strip() for c in dead.split("|")]
    assert cells[3].endswith(CONTROL_FAILED.strip()) and CONTROL_FAILED.strip() not in cells[4]
    assert CONTROL_FAILED.strip() not in good


def test_the_variants_table_marks_a_failed_control(tmp_path) -> None:  # noqa: ANN001
    learned = [_result("dead", 0.5, 0.3), *RESULTS[1:]]  # in variant "b" it learned
    variants = []
    for name, results in (("a", RESULTS), ("b", learned)):
        write_results(tmp_path / name, results, ["hole_gen_fail_rate"], None)
        write_json(tmp_path / name / MANIFEST, {})
        variants.append(Variant(name=name, axes={"p": len(variants)}, path=tmp_path,
                                suite=None))  # type: ignore[arg-type]
    headers, rows = combined_rows(combined_board(tmp_path, variants), ["hole_gen_fail_rate"])
    assert "control_failed" not in headers
    cell = {(r[0], r[2]): r[headers.index("hole_gen_fail_rate")] for r in rows}
    assert cell[("a", "dead")].endswith("(control failed)")
    assert not cell[("b", "dead")].endswith("(control failed)")
    assert not any(cell[(v, "good")].endswith("(control failed)") for v in ("a", "b"))
