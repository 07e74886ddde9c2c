"""The core executors (local and the default pool) and how a run lays out the machine."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import toy_plugins
from conftest import REPO, TOY_SUITE
from zsbench.executors import LocalExecutor, PoolExecutor
from zsbench.jobs import Layout, plan_layout
from zsbench.registry import Registry
from zsbench.run import run_suite
from zsbench.suite import load_suite

QUIET: dict = {}


def _scores(outcome) -> str:
    # as JSON text: NaN (a score with no valid image to average) equals NaN there
    return json.dumps([(r.label, r.seed, r.status, r.scores) for r in outcome.results],
                      sort_keys=True)


def test_plan_layout_uses_every_core() -> None:
    assert plan_layout(8, cores=2) == Layout(workers=2, threads=1, cores=2)
    assert plan_layout(1, cores=2) == Layout(workers=1, threads=2, cores=2)  # all threads
    assert plan_layout(3, cores=16) == Layout(workers=3, threads=5, cores=16)
    assert plan_layout(8, cores=16, threads=4) == Layout(workers=4, threads=4, cores=16)
    assert plan_layout(8, cores=2, threads=4) == Layout(workers=1, threads=4, cores=2)
    assert plan_layout(8, cores=8, workers=2) == Layout(workers=2, threads=4, cores=8)
    assert plan_layout(0, cores=1) == Layout(workers=1, threads=1, cores=1)
    # whatever the layout decided, planning again at its thread count keeps the workers
    for n in range(1, 12):
        for cores in (1, 2, 3, 8, 16):
            first = plan_layout(n, cores=cores)
            assert plan_layout(n, cores=cores, threads=first.threads) == first
    assert LocalExecutor().layout(4, 2).workers == 1
    assert PoolExecutor().layout(4, None, portable=False).workers == 1


def test_pool_gives_the_local_executors_scores_and_records_the_layout(
        toy_registry, write_suite, tmp_path: Path) -> None:
    suite = load_suite(write_suite(), registry=toy_registry)
    local = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "local", threads=1,
                      executor=LocalExecutor(), **QUIET)
    pool = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "pool", threads=1,
                     executor=PoolExecutor(workers=2), **QUIET)
    assert _scores(local) == _scores(pool)
    manifest = json.loads((tmp_path / "pool" / "manifest.json").read_text())
    assert manifest["executor"] == {"name": "pool", "workers": 2}
    assert manifest["layout"]["workers"] == 2 and manifest["layout"]["threads_per_job"] == 1
    assert manifest["torch_threads"] == 1
    assert json.loads((tmp_path / "local" / "manifest.json").read_text())["layout"][
        "workers"] == 1


@pytest.mark.slow
def test_pool_survives_a_dead_worker(toy_registry, write_suite, tmp_path: Path) -> None:
    text = TOY_SUITE.replace("seeds = [0, 1]", "seeds = [1]") + \
        '\n[[model]]\nplugin = "linear"\nlabel = "dies"\nmode = "die"\n' \
        '\n[[model]]\nplugin = "linear"\nlabel = "raises"\nmode = "boom"\n'
    suite = load_suite(write_suite(text), registry=toy_registry)
    out = run_suite(suite, registry=toy_registry, run_dir=tmp_path / "p", threads=1,
                    executor=PoolExecutor(workers=2), **QUIET)
    status = {r.label: (r.status, r.error or "") for r in out.results}
    assert status["pca2"][0] == status["pca1-weighted"][0] == "ok"
    assert status["dies"][0] == "failed" and "died" in status["dies"][1]
    assert "planted failure" in status["raises"][1]


def test_a_run_needs_no_optional_executor(write_suite, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ZSBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("ZSBENCH_DISABLE_PLUGINS", "standard-executors")
    registry = Registry(extra=[toy_plugins])
    assert set(registry.names("executor")) == {"local", "pool"}
    assert registry.get("executor", "pool").distribution == "zsbench"
    suite = load_suite(write_suite(), registry=registry)
    out = run_suite(suite, registry=registry, run_dir=tmp_path / "r", **QUIET)
    assert [r.status for r in out.results] == ["ok"] * 4
    assert out.manifest["executor"]["name"] == "pool"


@pytest.mark.slow
def test_default_layout_is_bit_identical_to_local_on_the_smoke_profile(
        tmp_path: Path) -> None:
    """The whole-machine default (here: as many jobs side by side as there are cores)
    scores polar_hole's smoke profile bit for bit as the local executor does at the same
    torch threads per job."""
    registry = Registry()
    suite = load_suite(REPO / "suites" / "polar_hole.toml", profile="smoke", registry=registry)
    suite.outputs = []  # scores only (zsbench run --no-outputs)
    default = run_suite(suite, registry=registry, run_dir=tmp_path / "default",
                        executor=PoolExecutor(workers=2) if plan_layout(4).workers < 2
                        else None, threads=None if plan_layout(4).workers >= 2 else 1,
                        **QUIET)
    layout = default.manifest["layout"]
    assert layout["workers"] == 2
    local = run_suite(suite, registry=registry, run_dir=tmp_path / "local",
                      executor=LocalExecutor(), threads=layout["threads_per_job"], **QUIET)
    assert [r.status for r in default.results] == ["ok"] * 4
    assert _scores(default) == _scores(local)
    assert default.manifest["torch_threads"] == local.manifest["torch_threads"]


@pytest.mark.parametrize("name", ["local", "pool"])
def test_core_executors_are_listed_as_zsbench(name: str) -> None:
    info = Registry().get("executor", name)
    assert info.distribution == "zsbench" and info.source == "zsbench.executors"


ORPHAN_SCRIPT = """
import os, sys, time
from zsbench.executors import PoolExecutor
from zsbench.jobs import Job

def task(job):
    open(os.path.join(sys.argv[1], f"{os.getpid()}.pid"), "w").close()
    time.sleep(300)

if __name__ == "__main__":
    jobs = [Job(label=f"j{i}", plugin="x", params={}, weighting=None, seed=i) for i in range(2)]
    PoolExecutor(workers=2).map(jobs, task, lambda job, result: None)
"""


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_pool_workers_stop_when_their_driver_is_killed(tmp_path: Path) -> None:
    """A driver killed outright (SIGKILL: no clean-up runs) leaves no worker training on."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "driver.py"
    script.write_text(ORPHAN_SCRIPT)
    driver = subprocess.Popen([sys.executable, str(script), str(tmp_path)])
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("*.pid"))) < 2:
            assert time.monotonic() < deadline and driver.poll() is None, "workers never started"
            time.sleep(0.2)
        workers = [int(p.stem) for p in tmp_path.glob("*.pid")]
        assert all(_alive(pid) for pid in workers)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in workers)
    finally:
        driver.kill()
        for p in tmp_path.glob("*.pid"):
            if _alive(int(p.stem)):
                os.kill(int(p.stem), signal.SIGKILL)


def test_sigterm_interrupts_a_command_like_ctrl_c() -> None:
    """``kill`` (SIGTERM) during a command becomes the KeyboardInterrupt that a run turns into
    a saved, resumable interruption (exit 130); the previous handler comes back after."""
    import signal

    from zsbench.cli import _sigterm_interrupts

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), _sigterm_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_dead_workers_message_reads_its_exit_code() -> None:
    from zsbench.jobs import Job, worker_died

    job = Job(label="m", plugin="p", params={}, weighting=None, seed=0)
    killed = worker_died(job, -9).error
    assert "SIGKILL" in killed and "out-of-memory" in killed
    own = worker_died(job, 255).error
    assert "exit status 255" in own and "--executor local" in own and "memory" not in own
    assert worker_died(job, -15).status == "failed" and "SIGTERM" in worker_died(job, -15).error
