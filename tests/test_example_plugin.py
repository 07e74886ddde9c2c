"""The example third-party distribution (examples/zsbench-baselines), as its users meet it.

The distribution is installed with pip, from its local path, into a throwaway virtual
environment layered over this one (it sees every package installed here, zsbench included,
through a ``.pth`` file), so that installing and uninstalling it never touches the
environment the tests run in, even when a test dies half-way. The commands then run as
``python -m zsbench.cli`` in that environment, exactly as the ``zsbench`` script would.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import shutil
import site
import subprocess
import sys
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from zsbench.testing import Check, parametrize_with_checks

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "zsbench-baselines"
SUITE = EXAMPLE / "suites" / "polar_baselines.toml"

sys.path.insert(0, str(EXAMPLE / "src"))  # importable for the conformance kit, not installed

from zsbench_baselines import (  # noqa: E402
    NearestFactorsModel,
    NearestModel,
    PCAModel,
    PixelPSNR,
)


@parametrize_with_checks([PCAModel(latent_dim=3), NearestModel(latent_dim=8),
                          NearestFactorsModel(), PixelPSNR()])
def test_example_plugins_conform(plugin: object, check: Check) -> None:
    check()


# ---------------------------------------------------------------------------------------
# a throwaway environment layered over this one


@dataclass
class Env:
    """A virtual environment whose ``python`` also sees this environment's packages."""

    root: Path
    python: Path
    work: Path

    def environ(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ZSBENCH_") and k not in ("PYTHONPATH", "PYTHONHOME")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["ZSBENCH_CACHE_DIR"] = str(self.root / "cache")  # never the user's cache
        env.update(extra)
        return env

    def run(self, *args: str, timeout: float = 240, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.python), *args], cwd=self.work, env=self.environ(**extra),
                              capture_output=True, text=True, timeout=timeout)

    def zsbench(self, *args: str, **extra: str) -> subprocess.CompletedProcess:
        return self.run("-m", "zsbench.cli", *args, **extra)

    def pip(self, *args: str) -> subprocess.CompletedProcess:
        proc = self.run("-m", "pip", "--disable-pip-version-check", "--no-input", *args)
        assert proc.returncode == 0, f"pip {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc


def _site_dirs() -> list[str]:
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        dirs.append(site.getusersitepackages())
    return dirs


@pytest.fixture(scope="module")
def layered_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("layered-env")
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt", clear=True).create(root / "venv")
    bindir = "Scripts" if os.name == "nt" else "bin"
    python = root / "venv" / bindir / ("python.exe" if os.name == "nt" else "python")
    purelib = subprocess.run([str(python), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # A .pth line that starts with "import" is executed at start-up: add this environment's
    # site directories (processing their own .pth files, e.g. zsbench's editable install).
    lines = "; ".join(f"site.addsitedir({d!r})" for d in _site_dirs())
    Path(purelib, "zz_parent_environment.pth").write_text(f"import site; {lines}\n")
    work = root / "work"
    work.mkdir()
    yield Env(root=root, python=python, work=work)
    shutil.rmtree(root, ignore_errors=True)


def _copy_example(dest: Path) -> Path:
    """The example's sources in ``dest`` (pip builds in the source tree: keep it clean)."""
    target = dest / "zsbench-baselines"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    return target


def _plugin_rows(stdout: str) -> dict[tuple[str, str], list[str]]:
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] in ("dataset", "model", "metric", "output", "executor"):
            rows[(parts[0], parts[1])] = parts[2:4]
    return rows


def _installed_here() -> bool:
    try:
        importlib.metadata.distribution("zsbench-baselines")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
def test_pip_install_run_and_uninstall(layered_env: Env, tmp_path: Path) -> None:
    env = layered_env
    before = _installed_here()
    assert "zsbench-baselines" not in env.pip("list").stdout or before
    src = _copy_example(tmp_path)
    try:
        env.pip("install", "--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir",
                str(src))
        # discovered through its entry points, with its distribution and version
        listed = env.zsbench("plugins")
        assert listed.returncode == 0, listed.stderr
        rows = _plugin_rows(listed.stdout)
        for key in [("model", "pca"), ("model", "nearest"), ("model", "nearest_factors"),
                    ("metric", "pixel_psnr")]:
            assert rows[key] == ["zsbench-baselines", "0.1.0"], listed.stdout
        assert rows[("model", "vae")][0] == "zsbench"
        assert "broken plugins" not in listed.stdout

        # a smoke suite naming its models: results in the leaderboard, versions in the manifest
        run_dir = tmp_path / "run"
        log = tmp_path / "events.jsonl"
        ran = env.zsbench("run", str(SUITE), "--profile", "smoke", "--out", str(run_dir),
                          ZSBENCH_JSONL_LOG=str(log))
        assert ran.returncode == 0, ran.stdout + ran.stderr
        board = pd.read_csv(run_dir / "leaderboard.csv", index_col=0)
        assert {"pca", "nearest", "nearest_factors", "vae"} <= set(board.index)
        for label in ("pca", "nearest"):
            assert board.loc[label, "status"] == "ok"
            for column in ("hole_bce", "test_bce", "hole_psnr", "test_psnr"):
                assert math.isfinite(board.loc[label, column]), (label, column)
        assert board.loc["nearest", "test_psnr"] > board.loc["nearest", "hole_psnr"]
        # a plugin that implements only fit and generate gets conditional scores; the
        # scores it cannot have are n/a, not failures, and it keeps no checkpoint
        stored = {r["label"]: r for r in json.loads((run_dir / "metrics.json").read_text())[
            "results"]}
        copier = stored["nearest_factors"]
        assert copier["status"] == "ok" and copier["failures"] == {}
        assert copier["scores"]["hole_gen_fail_rate"]["value"] > \
            copier["scores"]["test_gen_fail_rate"]["value"]
        assert "save" in copier["skipped"]["checkpoint"]
        assert "generate" in stored["pca"]["skipped"]["metric conditional_generation"]
        manifest = json.loads((run_dir / "manifest.json").read_text())
        used = {(p["kind"], p["name"]): p for p in manifest["plugins"]}
        for key in [("model", "pca"), ("model", "nearest"), ("metric", "pixel_psnr")]:
            assert (used[key]["distribution"], used[key]["version"]) == (
                "zsbench-baselines", "0.1.0")
        assert used[("model", "vae")]["distribution"] == "zsbench"
        # the observer: one JSON line per event, in the file the variable names
        events = [json.loads(line) for line in log.read_text().splitlines()]
        assert [e["event"] for e in events] == ["run_start", "result", "result", "result",
                                                "result", "run_end"]
        assert events[0]["jobs"] == ["pca/seed0", "nearest/seed0", "nearest_factors/seed0",
                                     "vae/seed0"]
        pca_event = next(e for e in events if e.get("label") == "pca")
        assert pca_event["status"] == "ok" and math.isfinite(pca_event["scores"]["hole_psnr"])
        assert {row["model"] for row in events[-1]["leaderboard"]} == {"pca", "nearest",
                                                                      "nearest_factors", "vae"}
        assert not (run_dir / "events.jsonl").exists()

        # reproducible runs: third-party plugins off
        off = env.zsbench("plugins", ZSBENCH_DISABLE_PLUGIN_AUTOLOAD="1")
        assert off.returncode == 0 and ("model", "pca") not in _plugin_rows(off.stdout)
        assert ("model", "vae") in _plugin_rows(off.stdout)

        # the author's own conformance tests pass where the package is installed
        own = env.run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(src / "tests"))
        assert own.returncode == 0, own.stdout + own.stderr
    finally:
        env.pip("uninstall", "-y", "zsbench-baselines")

    # uninstalled: gone from `zsbench plugins`, and the suite is refused by name
    listed = env.zsbench("plugins")
    assert listed.returncode == 0 and ("model", "pca") not in _plugin_rows(listed.stdout)
    refused = env.zsbench("validate", str(SUITE), "--profile", "smoke")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert 'unknown model plugin "pca"' in refused.stderr
    assert "(see: zsbench plugins)" in refused.stderr
    assert _installed_here() == before  # this environment is as it was


def test_the_suite_without_the_distribution_is_refused_by_name() -> None:
    """In the test environment itself, where the example is not installed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZSBENCH_")}
    proc = subprocess.run([sys.executable, "-m", "zsbench.cli", "validate", str(SUITE),
                           "--profile", "smoke"], capture_output=True, text=True, env=env,
                          timeout=240)
    if proc.returncode == 0:
        pytest.skip("zsbench-baselines is installed in this environment")
    assert proc.returncode == 2
    assert proc.stderr.startswith("zsbench: error: ")
    assert 'unknown model plugin "pca"' in proc.stderr
    assert str(SUITE) in proc.stderr and "[model[0].plugin]" in proc.stderr
