"""Executors, the content-addressed cache, resume after a crash (issue: runs that scale out)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import TOY_SUITE
from zsbench.cache import Cache
from zsbench.cli import main
from zsbench.run import run_suite
from zsbench.suite import load_suite

TESTS = str(Path(__file__).parent)


def _scores(outcome) -> list:  # noqa: ANN001
    return [(r.label, r.seed, r.status, r.scores) for r in outcome.results]


@pytest.mark.slow
def test_local_and_process_executors_give_identical_metrics(toy_registry, write_suite,
                                                            tmp_path: Path) -> None:
    suite = load_suite(write_suite(), registry=toy_registry)
    local = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "local")
    proc = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "proc",
                     executor=toy_registry.create("executor", "process", {"workers": 2}),
                     plugin_modules=["toy_plugins"])
    assert _scores(local) == _scores(proc)
    manifest = json.loads((tmp_path / "proc" / "manifest.json").read_text())
    assert manifest["executor"] == {"name": "process", "workers": 2}
    assert manifest["torch_threads"] == 1


@pytest.mark.slow
def test_ray_executor_gives_identical_metrics(toy_registry, write_suite, tmp_path: Path,
                                              monkeypatch) -> None:
    pytest.importorskip("ray")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    text = TOY_SUITE + '\n[[model]]\nplugin = "linear"\nlabel = "dies"\nmode = "die"\n'
    suite = load_suite(write_suite(text), registry=toy_registry)
    local = run_suite(load_suite(write_suite(), registry=toy_registry), registry=toy_registry,
                      run_dir=tmp_path / "local")
    ray_run = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "ray",
                        executor=toy_registry.create("executor", "ray", {"num_cpus": 1.0}),
                        plugin_modules=["toy_plugins"])
    ok = [x for x in _scores(ray_run) if x[0] != "dies"]
    assert ok == _scores(local)
    dead = [r for r in ray_run.results if r.label == "dies"]
    assert [r.status for r in dead] == ["failed", "failed"]
    assert "ray task failed" in dead[0].error


@pytest.mark.slow
def test_process_executor_isolates_a_dead_worker(toy_registry, write_suite,
                                                 tmp_path: Path) -> None:
    text = TOY_SUITE.replace("seeds = [0, 1]", "seeds = [1]") + \
        '\n[[model]]\nplugin = "linear"\nlabel = "dies"\nmode = "die"\n' \
        '\n[[model]]\nplugin = "linear"\nlabel = "raises"\nmode = "boom"\n'
    suite = load_suite(write_suite(text), registry=toy_registry)
    out = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "p",
                    executor=toy_registry.create("executor", "process", {}),
                    plugin_modules=["toy_plugins"])
    status = {(r.label, r.seed): (r.status, r.error or "") for r in out.results}
    assert status[("pca2", 1)][0] == status[("pca1-weighted", 1)][0] == "ok"
    assert status[("dies", 1)][0] == "failed" and "died" in status[("dies", 1)][1]
    assert "planted failure" in status[("raises", 1)][1]


@pytest.mark.slow
def test_warm_cache_metrics_only_change_trains_nothing(toy_registry, write_suite,
                                                       tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    first = run_suite(load_suite(write_suite(), registry=toy_registry), registry=toy_registry,
                      run_dir=tmp_path / "a", cache=cache)
    assert all(j["trained"] for j in first.manifest["jobs"])
    changed = TOY_SUITE.replace('plugin = "mse"', 'plugin = "mse"\nsplits = ["hole"]')
    second = run_suite(load_suite(write_suite(changed, "b.toml"), registry=toy_registry),
                       registry=toy_registry, run_dir=tmp_path / "b", cache=cache)
    assert not any(j["trained"] for j in second.manifest["jobs"])
    assert all(j["training"]["from_cache"] for j in second.manifest["jobs"])
    for a, b in zip(first.results, second.results):
        assert a.scores["hole_mse"] == b.scores["hole_mse"]
    kinds = sorted({e.kind for e in cache.entries()})
    assert kinds == ["datasets", "models"]


def test_corrupt_cache_entry_is_detected_and_recomputed(toy_registry, write_suite,
                                                        tmp_path: Path, caplog) -> None:
    warnings: list[str] = []
    cache = Cache(tmp_path / "cache", warn=warnings.append)
    suite = load_suite(write_suite(), registry=toy_registry)
    local = toy_registry.create("executor", "local", {})  # the warnings of this process
    first = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "a", cache=cache,
                      executor=local)
    victim = next((tmp_path / "cache" / "models").glob("*/*/model.ckpt"))
    victim.write_bytes(victim.read_bytes()[:-7] + b"garbage")
    again = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "b", cache=cache,
                      executor=local)
    # the job's warning, logged where its result arrives (a pool worker's reaches the terminal)
    assert any("corrupt" in r.getMessage() and "pca" in r.getMessage()
               for r in caplog.records if r.levelname == "WARNING")
    assert sum(j["trained"] for j in again.manifest["jobs"]) == 1
    assert _scores(first) == _scores(again)


@pytest.mark.slow  # a whole run folder (6-10 s): CI's slow step
def test_cache_cli_lists_and_clears(toy_registry, write_suite, tmp_path: Path, capsys) -> None:
    cache = Cache(tmp_path / "c")
    run_suite(load_suite(write_suite(), registry=toy_registry), registry=toy_registry,
              run_dir=tmp_path / "a", cache=cache)
    assert main(["cache", "ls", "--cache-dir", str(tmp_path / "c")]) == 0
    listing = capsys.readouterr().out
    assert "datasets" in listing and "models" in listing and "pca2/seed0" in listing
    assert main(["cache", "clear", "--cache-dir", str(tmp_path / "c")]) == 0
    assert "removed 5 cache entries" in capsys.readouterr().out
    assert cache.entries() == []


def _cli(*args: str, env: dict) -> subprocess.Popen:  # noqa: D103
    return subprocess.Popen([sys.executable, "-m", "zsbench.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_leaderboard(write_suite, tmp_path: Path) -> None:
    text = TOY_SUITE.replace('label = "pca2"', 'label = "pca2"\nsleep = 0.6').replace(
        'latent_dim = 1\nweighting', 'latent_dim = 1\nsleep = 0.6\nweighting')
    path = write_suite(text)
    env = {**os.environ, "ZSBENCH_PLUGINS": "toy_plugins",
           "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])}
    full = tmp_path / "full"
    ref = _cli("run", str(path), "--no-cache", "--out", str(full), env=env)
    assert ref.wait(timeout=120) == 0, ref.stderr.read()

    run_dir = tmp_path / "killed"
    proc = _cli("run", str(path), "--no-cache", "--out", str(run_dir), env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        metrics = run_dir / "metrics.json"
        if metrics.is_file() and len(json.loads(metrics.read_text())["results"]) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(json.loads((run_dir / "metrics.json").read_text())["results"])
    assert 2 <= finished < 4, "the run was not killed midway"

    resumed = _cli("run", str(path), "--no-cache", "--resume", str(run_dir), env=env)
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["state"] == "finished"
    assert sum(j["resumed"] for j in manifest["jobs"]) == finished
    assert sum(j["trained"] for j in manifest["jobs"]) == 4 - finished
    a = pd.read_csv(full / "leaderboard.csv", index_col=0)
    b = pd.read_csv(run_dir / "leaderboard.csv", index_col=0)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow  # a whole run folder (6-10 s): CI's slow step
def test_resume_refuses_another_configuration(toy_registry, write_suite, tmp_path: Path,
                                              capsys, monkeypatch) -> None:
    monkeypatch.setenv("ZSBENCH_PLUGINS", "toy_plugins")
    path = write_suite()
    assert main(["run", str(path), "--no-cache", "--out", str(tmp_path / "r")]) == 0
    assert main(["run", str(path), "--profile", "smoke", "--resume", str(tmp_path / "r")]) == 2
    assert "another configuration" in capsys.readouterr().err


def test_process_executor_splits_threads() -> None:
    from zsbench_plugins.executors.process import ProcessExecutor

    cores = os.cpu_count() or 1
    assert ProcessExecutor().plan(8, threads=1) == min(cores, 8)
    assert ProcessExecutor().plan(8, threads=cores) == 1
    assert ProcessExecutor().plan(1, threads=1) == 1
    assert ProcessExecutor(workers=3).plan(8, threads=2) == 3


@pytest.mark.slow  # a whole run folder (6-10 s): CI's slow step
def test_ctrl_c_saves_what_finished_and_says_how_to_resume(toy_registry, write_suite,
                                                          tmp_path: Path) -> None:
    from zsbench.errors import RunInterrupted
    from zsbench.executors import LocalExecutor

    class InterruptedAfterOne(LocalExecutor):
        def map(self, jobs, task, on_result) -> None:  # noqa: ANN001
            on_result(jobs[0], task(jobs[0]))
            raise KeyboardInterrupt

    suite = load_suite(write_suite(), registry=toy_registry)
    with pytest.raises(RunInterrupted) as info:
        run_suite(suite, registry=toy_registry, run_dir=tmp_path / "r",
                  executor=InterruptedAfterOne())
    assert info.value.exit_code == 130
    assert f"--resume {tmp_path / 'r'}" in str(info.value)
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["state"] == "interrupted" and len(manifest["jobs"]) == 1
    resumed = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "r", resume=True)
    assert [j["resumed"] for j in resumed.manifest["jobs"]] == [True, False, False, False]
