"""The runner end to end on toy plugins: run folder, determinism, failure isolation."""

from __future__ import annotations

import pytest

import json
from pathlib import Path

import numpy as np
import pandas as pd

import toy_plugins
from conftest import TOY_SUITE
from zsbench import hookimpl
from zsbench.cli import main
from zsbench.registry import Registry
from zsbench.results import leaderboard_frame, load_results
from zsbench.run import run_suite
from zsbench.runner import prepare_data
from zsbench.suite import load_suite


def test_splits_are_disjoint_and_respect_the_hole(toy_registry, write_suite) -> None:
    suite = load_suite(write_suite(), registry=toy_registry)
    data = prepare_data(suite, toy_registry)
    space = data.space
    assert suite.holdout.contains(data.splits["hole"].factors, space).all()
    for name in ("train", "test"):
        assert not suite.holdout.contains(data.splits[name].factors, space).any()
        assert (data.splits[name].depth < 0).all()
    assert (data.splits["hole"].depth >= 0).all()
    total = sum(len(s) for name, s in data.splits.items() if name != "rim")
    assert total == data.counts["total"] == 300
    # the rim: fresh points outside the hole, as many as the hole
    assert len(data.splits["rim"]) == len(data.splits["hole"])
    assert (data.splits["rim"].depth < 0).all()
    assert data.splits["train"].images.dtype == np.float32
    assert data.transects[0].images.shape == (9, 1, 8, 8)
    assert data.transects[0].in_hole.tolist() == [False] * 3 + [True] * 3 + [False] * 3


def test_run_writes_the_run_folder(toy_registry, write_suite, tmp_path: Path) -> None:
    suite = load_suite(write_suite(), registry=toy_registry)
    out = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "run")
    run = out.run_dir
    for name in ("suite.toml", "manifest.json", "metrics.json", "metrics.csv", "leaderboard.md",
                 "leaderboard.csv"):
        assert (run / name).is_file(), name
    assert (run / "suite.toml").read_text() == suite.path.read_text()
    assert len(list((run / "checkpoints").glob("*"))) == 4
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["suite"]["config_hash"] == suite.config_hash
    assert manifest["seeds"] == [0, 1]
    assert manifest["device"] == "cpu"
    assert {p["name"] for p in manifest["plugins"]} == {"toy", "linear", "mse"}
    assert manifest["splits"]["hole"] > 0
    assert all(j["status"] == "ok" for j in manifest["jobs"])
    board = pd.read_csv(run / "leaderboard.csv", index_col=0)
    assert list(board.index) == ["pca2", "pca1-weighted"]
    assert {"hole_mse", "hole_mse_std", "hole_mse_lo", "hole_mse_hi"} <= set(board.columns)
    # value [95 % interval] (here over the two seeds: the toy metric has no per-image values)
    assert "pca2" in out.leaderboard and " [" in out.leaderboard and "**" in out.leaderboard


@pytest.mark.slow
def test_same_suite_and_seed_give_identical_metrics(toy_registry, write_suite,
                                                    tmp_path: Path) -> None:
    suite = load_suite(write_suite(), registry=toy_registry)
    a = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "a")
    b = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "b")
    assert [r.scores for r in a.results] == [r.scores for r in b.results]


@pytest.mark.slow
def test_failing_models_are_recorded_and_the_others_finish(toy_registry, write_suite,
                                                           tmp_path: Path) -> None:
    text = TOY_SUITE + """
[[model]]
plugin = "linear"
label = "raises"
mode = "boom"

[[model]]
plugin = "linear"
label = "goes-nan"
mode = "nan"
"""
    suite = load_suite(write_suite(text), registry=toy_registry)
    out = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "run")
    status = {(r.label, r.seed): r.status for r in out.results}
    assert status[("pca2", 0)] == status[("pca2", 1)] == "ok"
    assert status[("raises", 0)] == status[("goes-nan", 1)] == "failed"
    failed = {r.label: r.error for r in out.failed}
    assert "planted failure" in failed["raises"]
    assert "NaN" in failed["goes-nan"]
    board = leaderboard_frame(out.results, ["hole_mse"])
    assert board.loc["raises", "status"].startswith("failed: training: RuntimeError")
    assert np.isnan(board.loc["raises", "hole_mse"])
    assert np.isfinite(board.loc["pca2", "hole_mse"])
    assert "failed" in out.leaderboard


def test_cli_run_and_leaderboard(toy_registry, write_suite, tmp_path: Path, capsys,
                                 monkeypatch) -> None:
    monkeypatch.setenv("ZSBENCH_PLUGINS", "toy_plugins")
    path = write_suite()
    run_dir = tmp_path / "cli-run"
    assert main(["run", str(path), "--profile", "smoke", "--out", str(run_dir)]) == 0
    printed = capsys.readouterr().out
    assert "pca2" in printed and str(run_dir) in printed
    assert main(["leaderboard", str(run_dir)]) == 0
    again = capsys.readouterr().out
    assert again.strip() in printed
    manifest, results = load_results(run_dir)
    assert manifest["suite"]["profile"] == "smoke"
    assert len(results) == 4


def test_cli_no_outputs_gives_the_same_scores_without_pictures(write_suite, tmp_path: Path,
                                                               capsys, monkeypatch) -> None:
    monkeypatch.setenv("ZSBENCH_PLUGINS", "toy_plugins")
    path = write_suite(TOY_SUITE + '\n[[output]]\nplugin = "error_map"\n')
    common = ["--profile", "smoke", "--seeds", "0", "--executor", "local", "--no-cache"]
    assert main(["run", str(path), *common, "--out", str(tmp_path / "full")]) == 0
    assert main(["run", str(path), *common, "--no-outputs", "--out",
                 str(tmp_path / "scores")]) == 0
    capsys.readouterr()
    assert list((tmp_path / "full" / "pictures").rglob("*.png"))
    assert not list((tmp_path / "scores").rglob("*.png"))
    (full_manifest, full), (manifest, scores) = (load_results(tmp_path / "full"),
                                                 load_results(tmp_path / "scores"))
    assert [r.scores for r in scores] == [r.scores for r in full]
    assert ("output", "error_map") in {(p["kind"], p["name"]) for p in full_manifest["plugins"]}
    assert "output" not in {p["kind"] for p in manifest["plugins"]}


def test_cli_errors_exit_2_with_one_paragraph(write_suite, tmp_path: Path, capsys,
                                              monkeypatch) -> None:
    monkeypatch.setenv("ZSBENCH_PLUGINS", "toy_plugins")
    path = write_suite(TOY_SUITE.replace('plugin = "mse"', 'plugin = "mes"'))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert 'unknown metric plugin "mes"; did you mean "mse"?' in err
    assert main(["leaderboard", str(tmp_path)]) == 2
    assert "not a zsbench run folder" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_exit_3_when_a_job_failed(write_suite, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ZSBENCH_PLUGINS", "toy_plugins")
    path = write_suite(TOY_SUITE + '\n[[model]]\nplugin = "linear"\nlabel = "x"\nmode = "boom"\n')
    assert main(["run", str(path), "--out", str(tmp_path / "r")]) == 3


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    @hookimpl
    def zsbench_run_start(self, run) -> None:  # noqa: ANN001
        self.events.append(f"start {len(run.jobs)}")

    @hookimpl
    def zsbench_result_recorded(self, result) -> None:  # noqa: ANN001
        self.events.append(f"result {result.label} {result.seed} {result.status}")

    @hookimpl
    def zsbench_run_end(self, leaderboard) -> None:  # noqa: ANN001
        self.events.append(f"end {len(leaderboard)}")


class BrokenObserver:
    @hookimpl
    def zsbench_result_recorded(self, result) -> None:  # noqa: ANN001
        raise RuntimeError("tracker offline")


def test_observer_hooks_see_the_run(write_suite, tmp_path: Path, caplog) -> None:  # noqa: ANN001
    rec = Recorder()
    registry = Registry(extra=[toy_plugins, rec, BrokenObserver()])
    suite = load_suite(write_suite(), registry=registry)
    with caplog.at_level("INFO", logger="zsbench"):
        run_suite(suite, registry=registry, run_dir=tmp_path / "r")
    logged = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert rec.events[0] == "start 4"
    assert rec.events[1:5] == ["result pca2 0 ok", "result pca2 1 ok",
                               "result pca1-weighted 0 ok", "result pca1-weighted 1 ok"]
    assert rec.events[-1] == "end 2"
    assert any("tracker offline" in line for line in logged)


def test_run_folder_files_follow_the_umask(tmp_path) -> None:
    import os
    import stat

    from zsbench.results import atomic_write_text, write_items

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        items = write_items(tmp_path, "m", 0, "mse", {"x": [1.0, 2.0]})
    finally:
        os.umask(old)
    for path in (tmp_path / "a.json", items):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path  # not the temporary 0o600
