"""Paired comparisons in `compare`/`check`: two runs on the same images are compared image
by image (a paired bootstrap), the seed spread a baseline records says whether a change is
more than another training seed gives, and tolerances alone remain for old baselines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import toy_plugins

from zsbench.cli import main
from zsbench.compare import (
    BETTER,
    REGRESSION,
    SAME,
    WORSE_OK,
    baseline_items_path,
    compare,
    load_baseline,
    seed_allowance,
    summarize_run,
    write_baseline,
)
from zsbench.intervals import Items, paired_difference
from zsbench.registry import Registry
from zsbench.run import run_suite
from zsbench.suite import load_suite

SUITE = """
[suite]
name = "paired"
seeds = [0]

[dataset]
plugin = "toy"
n_samples = 300

[[holdout]]
shape = "ball"
center = { a = 0.5, b = 0.5 }
radius = 0.2

[[model]]
plugin = "pattern"
label = "m"
spread = 1.0

[[metric]]
plugin = "item_mse"

[tolerances]
default = { relative = 0.10, absolute = 1e-9 }
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(extra=[toy_plugins])


@pytest.fixture(scope="module")
def runs(registry: Registry, tmp_path_factory: pytest.TempPathFactory):
    """runs(name, seeds, scale=1.0) -> a finished run folder of the suite under ``seeds``
    (as ``--seeds`` gives them), with the model's error amplitude scaled by ``scale`` as a
    code change would (the suite stays the same); cached by name."""
    root = tmp_path_factory.mktemp("paired")
    path = root / "suite.toml"
    path.write_text(SUITE)
    done: dict[str, Path] = {}

    def run(name: str, seeds: list[int], scale: float = 1.0) -> Path:
        if name not in done:
            suite = load_suite(path, registry=registry)
            suite.seeds = list(seeds)
            toy_plugins.PatternModel.planted = scale
            try:
                done[name] = run_suite(suite, registry=registry, run_dir=root / name,
                                       executor=registry.create("executor", "local", {})
                                       ).run_dir
            finally:
                toy_plugins.PatternModel.planted = 1.0
        return done[name]

    return run


def _rows(cmp) -> dict[str, object]:
    return {r.score: r for r in cmp.rows}


def _without_items(run_dir: Path, tmp_path: Path, name: str) -> Path:
    """A copy of a run folder as an older zsbench wrote it: no per-image values."""
    out = tmp_path / name
    shutil.copytree(run_dir, out, ignore=shutil.ignore_patterns("checkpoints", "items"))
    return out


def test_a_bit_identical_rerun_is_the_same(runs) -> None:
    cmp = compare(summarize_run(runs("base", [0])), summarize_run(runs("rerun", [0])))
    for row in cmp.rows:
        assert row.rule == "paired" and row.verdict == SAME and row.identical
        assert row.paired_diff == row.paired_lo == row.paired_hi == 0.0
    assert not cmp.regressions
    assert any("compared image by image" in n for n in cmp.notes)


def test_a_five_percent_change_on_the_same_images_is_caught(runs, tmp_path: Path) -> None:
    base, worse = runs("base", [0]), runs("worse5", [0], scale=float(np.sqrt(1.05)))
    cmp = compare(summarize_run(base), summarize_run(worse))
    rows = _rows(cmp)
    for score in ("test_item_mse", "hole_item_mse"):
        row = rows[score]
        assert row.relative_change == pytest.approx(0.05, rel=1e-6)
        assert row.rule == "paired" and row.verdict == REGRESSION
        assert 0 < row.paired_lo <= row.paired_diff <= row.paired_hi
    # the tolerance alone (10 %) misses it: the same runs without per-image values
    old = compare(summarize_run(_without_items(base, tmp_path, "b")),
                  summarize_run(_without_items(worse, tmp_path, "w")))
    assert {r.verdict for r in old.rows} == {WORSE_OK}
    assert all(r.rule == "tolerance" for r in old.rows)
    assert any("tolerances decide" in n for n in old.notes)
    # better is better
    back = compare(summarize_run(worse), summarize_run(base))
    assert {r.verdict for r in back.rows} == {BETTER}


def test_the_table_shows_the_paired_interval(runs, capsys) -> None:
    assert main(["compare", str(runs("base", [0])), str(runs("worse5", [0],
                                                                 scale=float(np.sqrt(1.05))))]) == 1
    out = capsys.readouterr().out
    assert "paired change [95 %]" in out and "REGRESSION" in out
    line = next(ln for ln in out.splitlines() if "hole_item_mse" in ln)
    assert "[+" in line  # a positive interval of the change: worse on these images


def test_another_training_seed_within_the_recorded_spread_is_no_regression(runs) -> None:
    base = summarize_run(runs("seeds012", [0, 1, 2]))
    new = summarize_run(runs("seeds345", [3, 4, 5]))
    cmp = compare(base, new)
    assert any("seeds differ" in n for n in cmp.notes)
    for row in cmp.rows:
        assert row.rule == "paired"
        # image by image, the two sets of trained models do differ...
        assert row.paired_lo > 0
        # ...but by less than training seeds do: the procedure did not change
        assert 0 < row.change < row.seed_allowance
        assert row.verdict == WORSE_OK and row.detail == "within the seed spread"
    assert not cmp.regressions
    # with one seed on each side no spread is recorded: the same kind of change (seed 3
    # against seed 0) is a difference the data cannot explain, and it is flagged
    single = compare(summarize_run(runs("base", [0])),
                     summarize_run(runs("seed3", [3])))
    assert {r.verdict for r in single.rows} == {REGRESSION}
    # a real change beyond the seed spread is caught with several seeds too
    worse = summarize_run(runs("seeds012-worse", [0, 1, 2], scale=1.5))
    assert {r.verdict for r in compare(base, worse).rows} == {REGRESSION}


def test_seed_allowance() -> None:
    assert seed_allowance(0.1, 1, 0.2, 1) == 0.0
    # population std 0.1 over 2 seeds -> sample std 0.1 * sqrt(2)
    assert seed_allowance(0.1, 2, 0.0, 1) == pytest.approx(2 * 0.1 * np.sqrt(2) * np.sqrt(1.5))


def test_a_baseline_carries_its_per_image_values(runs, tmp_path: Path, capsys) -> None:
    base, worse = runs("base", [0]), runs("worse5", [0], scale=float(np.sqrt(1.05)))
    path = tmp_path / "paired-base.json"
    assert main(["baseline", str(base), "--out", str(path)]) == 0
    side = baseline_items_path(path)
    assert side.name == "paired-base.items.npz" and side.is_file()
    summary = load_baseline(path)
    assert len(summary.seed_items("m", "hole_item_mse")) == 1
    assert main(["check", str(worse), "--baseline", str(path)]) == 1
    assert main(["check", str(runs("rerun", [0])), "--baseline", str(path)]) == 0
    capsys.readouterr()
    # an older baseline without the sidecar: tolerances decide (within 10 %)
    side.unlink()
    assert main(["check", str(worse), "--baseline", str(path)]) == 0
    assert "tolerances decide" in capsys.readouterr().out


def test_edited_results_fall_back_to_tolerances(runs, tmp_path: Path) -> None:
    """Per-image values that no longer give the recorded score are not paired."""
    base = runs("base", [0])
    edited = tmp_path / "edited"
    shutil.copytree(base, edited)
    data = json.loads((edited / "metrics.json").read_text())
    data["results"][0]["scores"]["hole_item_mse"]["value"] *= 1.5
    (edited / "metrics.json").write_text(json.dumps(data))
    row = _rows(compare(summarize_run(base), summarize_run(edited)))["hole_item_mse"]
    assert row.rule == "tolerance" and row.verdict == REGRESSION


def test_target_scores_are_worse_away_from_the_target() -> None:
    rng = np.random.default_rng(0)
    num, den = rng.random(200) + 0.5, rng.random(200) + 0.5
    near = Items("ratio", (num, den))
    far = Items("ratio", (num * 1.3, den))
    diff, lo, hi = paired_difference([near], [far], seed=1, target=1.0)
    assert abs(near.statistic() - 1.0) < 0.1
    assert diff > 0 and lo > 0  # farther from 1
    diff, lo, hi = paired_difference([far], [near], seed=1, target=1.0)
    assert diff < 0 and hi < 0


def test_write_baseline_without_items_writes_no_sidecar(registry: Registry,
                                                        tmp_path: Path) -> None:
    from conftest import TOY_SUITE

    path = tmp_path / "toy.toml"
    path.write_text(TOY_SUITE)
    run = run_suite(load_suite(path, registry=registry), registry=registry,
                    run_dir=tmp_path / "run",
                    executor=registry.create("executor", "local", {})).run_dir
    write_baseline(run, tmp_path / "toy.json")
    assert not baseline_items_path(tmp_path / "toy.json").exists()


def _one_seed_side(x: np.ndarray, trajectory: str, spread: float | None) -> object:
    from zsbench.summaries import ModelSummary, ScoreSummary, Summary

    sc = ScoreSummary(mean=float(x.mean()), std=0.0, higher_is_better=False, headline=True,
                      metric="m", n=1)
    if spread is not None:
        sc.seed_sd, sc.seed_sd_seeds = spread, 3
    model = ModelSummary("ok", [0], scores={"err": sc}, trajectories={0: trajectory})
    return Summary(source="side", kind="run", tolerances={}, environment={},
                   suite={"name": "s", "profile": None, "experiment_hash": "h",
                          "config_hash": "c", "data_seed": 0, "seeds": [0]},
                   models={"m": model}, items=lambda label, name: [Items("mean", (x,))])


def test_a_recorded_seed_spread_applies_only_to_another_training() -> None:
    """One seed each, a 10 % worse score on the same images. With the seed spread
    recorded (3 seeds) it is within what another training trajectory gives, unless both
    sides trained the same model (same final loss, bit for bit: a change in evaluation
    only), where no seed allowance applies; without a recorded spread a note says so."""
    rng = np.random.default_rng(0)
    base = 1.0 + 0.5 * rng.standard_normal(300)
    worse = 1.1 * base
    moved = compare(_one_seed_side(base, "124:a", 0.08), _one_seed_side(worse, "124:b", None))
    (row,) = moved.rows
    assert row.verdict == WORSE_OK and row.recorded_spread
    assert "recorded seed spread" in row.tolerance
    assert not any("no seed spread recorded" in n for n in moved.notes)
    same = compare(_one_seed_side(base, "124:a", 0.08), _one_seed_side(worse, "124:a", None))
    assert same.rows[0].verdict == REGRESSION and same.rows[0].seed_allowance == 0.0
    bare = compare(_one_seed_side(base, "124:a", None), _one_seed_side(worse, "124:b", None))
    assert bare.rows[0].verdict == REGRESSION
    assert any("no seed spread recorded" in n and "--seed-spread" in n for n in bare.notes)
    # the allowance: the one-sided 97.5 % t quantile of 2 degrees of freedom
    assert seed_allowance(0.0, 1, 0.0, 1, (0.08, 3)) == pytest.approx(
        4.302653 * 0.08 * np.sqrt(2), rel=1e-5)


def test_a_baseline_records_the_seed_spread_of_three_seeds(runs, tmp_path: Path,
                                                            capsys) -> None:
    one, three = runs("base", [0]), runs("seeds012", [0, 1, 2])
    out = tmp_path / "b.json"
    assert main(["baseline", str(one), "--out", str(out), "--seed-spread", str(three)]) == 0
    data = json.loads(out.read_text())
    scores = next(iter(data["models"].values()))["scores"]
    assert all(s["seed_sd_seeds"] == 3 and s["seed_sd"] >= 0 for s in scores.values())
    loaded = load_baseline(out)
    assert next(iter(loaded.models.values())).scores[next(iter(scores))].seed_sd is not None
    # a run with too few seeds cannot give the spread
    assert main(["baseline", str(one), "--out", str(out), "--seed-spread", str(one)]) == 2
    assert "3 seeds or more" in capsys.readouterr().err
