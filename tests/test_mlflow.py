"""The standard-mlflow observer: off unless ``ZSBENCH_MLFLOW`` is on; on, a toy run lands in
a real local MLflow SQLite store (read back through MLflow's own client); a tracker that
fails warns once and never fails the run. The tests that need mlflow skip without it
(``pip install -e ".[mlflow]"``)."""

from __future__ import annotations

import json
import logging
import math
import socket
import sys
import time
import types
from pathlib import Path

import pytest
import toy_plugins
from conftest import TOY_SUITE
from zsbench_plugins.observers import mlflow_log

from zsbench import hookimpl
from zsbench.registry import Registry
from zsbench.results import load_results
from zsbench.run import run_suite
from zsbench.suite import load_suite


class CurvyModel(toy_plugins.LinearModel):
    """A linear model whose training summary carries a per-epoch history and an emergence
    curve, in the shapes the torch models and conditional generators give them."""

    name = "curvy"

    def training_summary(self) -> dict:
        return {"epochs_run": 3, "final_train_loss": 1 / 3, "device": "cpu",
                "stopped_early": False,
                "history": [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.5 / e,
                             "lr": 1e-3, "seconds": 0.1} for e in (1, 2, 3)],
                "emergence": {"tolerance": 0.05, "control": "rim",
                              "requests": {"hole": 4, "rim": 4},
                              "curve": [{"step": s, "hole_fail_rate": 1 - s / 100,
                                         "hole_valid_share": s / 100, "rim_fail_rate": 0.1,
                                         "rim_valid_share": 0.9} for s in (10, 50, 100)]}}


CURVY = types.ModuleType("curvy_plugin")
CURVY.zsbench_add_models = hookimpl(lambda: [CurvyModel])  # type: ignore[attr-defined]
SUITE = TOY_SUITE.replace(
    '[[model]]\nplugin = "linear"\nlabel = "pca1-weighted"\nlatent_dim = 1\nweighting = "low_b"',
    '[[model]]\nplugin = "curvy"\nlabel = "curvy"\n\n'
    '[[model]]\nplugin = "linear"\nlabel = "boom"\nmode = "boom"')
# mlflow's SQL store on SQLAlchemy 2.1 warns about its own use of ``noload``
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow")
ARTIFACTS = {"suite.toml", "manifest.json", "metrics.json", "metrics.csv", "leaderboard.md",
             "leaderboard.csv", "report.html"}


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One working directory for the module's tracked runs: the default store
    ``sqlite:///mlruns.db`` and its artifacts (``./mlruns``) land there. One store for all
    tests, each in its own experiment: a fresh MLflow database runs its schema migrations,
    seconds on a busy machine."""
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, store_dir: Path) -> None:
    """No tracking setting of the developer's leaks in; the default store is the module's."""
    for name in (mlflow_log.SWITCH, mlflow_log.URI, mlflow_log.EXPERIMENT,
                 "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(store_dir)
    monkeypatch.setattr(mlflow_log, "_warned", set())


def _client(store_dir: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{store_dir / 'mlruns.db'}")


def _runs(store_dir: Path, experiment: str) -> list:
    client = _client(store_dir)
    return client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


def _run(tmp_path: Path, profile: str | None = "smoke") -> Path:
    registry = Registry(extra=[toy_plugins, CURVY, mlflow_log])
    assert registry.pm.is_registered(mlflow_log)
    (tmp_path / "suite.toml").write_text(SUITE)
    suite = load_suite(tmp_path / "suite.toml", profile=profile, registry=registry)
    return run_suite(suite, registry=registry, run_dir=tmp_path / "run",
                     executor=registry.create("executor", "local", {})).run_dir


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "zsbench.mlflow" and r.levelno >= logging.WARNING]


def test_off_unless_switched_on(tmp_path: Path, monkeypatch, caplog) -> None:
    """Off (unset, 0, or a tracking URI alone), the hooks touch nothing: even with mlflow
    unimportable nothing warns and no store appears. On without mlflow: one warning with
    the install command, however many runs."""
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    monkeypatch.chdir(tmp_path)
    run = types.SimpleNamespace(suite=types.SimpleNamespace(name="toy"), run_dir=tmp_path,
                                jobs=[])

    def events() -> None:
        mlflow_log.zsbench_run_start(run=run)
        mlflow_log.zsbench_result_recorded(run=run, result=None)
        mlflow_log.zsbench_run_end(run=run)

    with caplog.at_level(logging.WARNING, logger="zsbench"):
        events()
        monkeypatch.setenv("ZSBENCH_MLFLOW", "0")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'x.db'}")
        events()
        assert _warnings(caplog) == []
        assert not list(tmp_path.iterdir())
        monkeypatch.setenv("ZSBENCH_MLFLOW", "maybe")
        events()
        events()
        assert len(_warnings(caplog)) == 1 and "ZSBENCH_MLFLOW=1" in _warnings(caplog)[0]
        monkeypatch.setenv("ZSBENCH_MLFLOW", "on")
        events()
        events()
    lines = _warnings(caplog)
    assert len(lines) == 2 and 'pip install "zsbench[mlflow]"' in lines[1]
    assert mlflow_log._trackers == {} and not list(tmp_path.iterdir())


def test_the_standard_entry_point_declares_it() -> None:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert (pyproject["project"]["entry-points"]["zsbench"]["standard-mlflow"]
            == "zsbench_plugins.observers.mlflow_log")
    assert "zsbench_plugins.observers" in pyproject["tool"]["setuptools"]["packages"]
    assert any(r.startswith("mlflow") for r in pyproject["project"]["optional-dependencies"]
               ["mlflow"])


def test_a_run_lands_in_a_local_sqlite_store(tmp_path: Path, store_dir: Path, monkeypatch,
                                             caplog) -> None:
    """ZSBENCH_MLFLOW=1 and nothing else: the documented default store sqlite:///mlruns.db
    in the working directory, artifacts under ./mlruns, experiment named after the suite."""
    pytest.importorskip("mlflow")
    monkeypatch.setenv("ZSBENCH_MLFLOW", "1")
    with caplog.at_level(logging.WARNING, logger="zsbench"):
        run_dir = _run(tmp_path)
    assert _warnings(caplog) == []
    assert (store_dir / "mlruns.db").is_file()
    client = _client(store_dir)
    runs = _runs(store_dir, "toy")
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {r.info.run_name: r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert len(runs) == 1 + 6

    # the run: suite, profile, seeds, plugin versions; artifacts
    manifest = json.loads((run_dir / "manifest.json").read_text())
    params = parent.data.params
    assert (params["suite"], params["profile"], params["seeds"]) == ("toy", "smoke", "0,1")
    assert params["models"] == "pca2,curvy,boom" and params["jobs"] == "6"
    assert params["config_hash"] == manifest["suite"]["config_hash"]
    for p in manifest["plugins"]:
        version = f"{p['distribution']} {p['version']}".strip()
        assert params[f"plugin.{p['kind']}.{p['name']}"] == version
    assert parent.info.status == "FINISHED" and parent.info.run_name == "run"
    assert parent.data.tags["zsbench.run_dir"] == str(run_dir.resolve())
    assert parent.data.tags["zsbench.failed_jobs"] == "2"
    assert parent.data.metrics["jobs_ok"] == 4 and parent.data.metrics["jobs_failed"] == 2
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} == ARTIFACTS
    assert str(store_dir / "mlruns") in parent.info.artifact_uri
    got = client.download_artifacts(parent.info.run_id, "manifest.json", str(tmp_path))
    assert Path(got).read_bytes() == (run_dir / "manifest.json").read_bytes()

    # each model x seed: a nested run with its scores, params and status
    _, results = load_results(run_dir)
    assert set(children) == {f"{r.label}/seed{r.seed}" for r in results}
    for r in results:
        child = children[f"{r.label}/seed{r.seed}"].data
        assert child.params["label"] == r.label and child.params["seed"] == str(r.seed)
        scores = {k: s["value"] for k, s in r.scores.items() if math.isfinite(s["value"])}
        assert {k: child.metrics[k] for k in scores} == pytest.approx(scores)
        assert child.metrics["timing/total_s"] == pytest.approx(r.timings["total_s"])
    assert children["pca2/seed0"].data.params["model.latent_dim"] == "1"  # the smoke profile
    boom = children["boom/seed1"]
    assert boom.info.status == "FAILED" and "planted failure" in boom.data.tags["zsbench.error"]
    assert children["pca2/seed1"].info.status == "FINISHED"

    # the training curves as step metrics
    curvy = children["curvy/seed0"]
    history = client.get_metric_history(curvy.info.run_id, "history/train_loss")
    assert [m.step for m in history] == [1, 2, 3]
    assert [m.value for m in history] == pytest.approx([1.0, 0.5, 1 / 3])
    assert [m.step for m in client.get_metric_history(curvy.info.run_id, "history/val_loss")] \
        == [1, 2, 3]
    emergence = client.get_metric_history(curvy.info.run_id, "emergence/hole_fail_rate")
    assert [m.step for m in emergence] == [10, 50, 100]
    assert [m.value for m in emergence] == pytest.approx([0.9, 0.5, 0.0])
    assert curvy.data.params["emergence.control"] == "rim"
    assert curvy.data.metrics["training/epochs_run"] == 3
    assert curvy.data.tags["zsbench.training.device"] == "cpu"


def test_a_resumed_run_logs_the_kept_results(tmp_path: Path, store_dir: Path,
                                             monkeypatch) -> None:
    """Results kept by --resume never pass through zsbench_result_recorded: the run's end
    logs them from metrics.json, tagged as resumed."""
    pytest.importorskip("mlflow")
    run_dir = _run(tmp_path, profile="smoke")  # untracked
    assert (not (store_dir / "mlruns.db").exists()
            or _client(store_dir).get_experiment_by_name("resumed") is None)
    monkeypatch.setenv("ZSBENCH_MLFLOW", "1")
    monkeypatch.setenv("ZSBENCH_MLFLOW_EXPERIMENT", "resumed")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store_dir / 'mlruns.db'}")
    registry = Registry(extra=[toy_plugins, CURVY, mlflow_log])
    suite = load_suite(tmp_path / "suite.toml", profile="smoke", registry=registry)
    run_suite(suite, registry=registry, run_dir=run_dir, resume=True,
              executor=registry.create("executor", "local", {}))
    nested = [r for r in _runs(store_dir, "resumed") if "mlflow.parentRunId" in r.data.tags]
    assert len(nested) == 6
    resumed = sorted(r.data.tags.get("zsbench.resumed", "no") for r in nested)
    assert resumed == ["no"] * 2 + ["true"] * 4  # the failed jobs ran again, the rest was kept


def test_a_failing_tracker_warns_once_and_the_run_goes_on(tmp_path: Path, monkeypatch,
                                                          caplog) -> None:
    """A tracking server that does not answer: one warning line naming the cause and the
    fix, quickly (the first contact is bounded), and a complete run."""
    pytest.importorskip("mlflow")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ZSBENCH_MLFLOW", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    t0 = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="zsbench"):
        run_dir = _run(tmp_path)
    assert time.perf_counter() - t0 < 20
    (line,) = _warnings(caplog)
    assert "MLflow tracking stopped" in line and f"127.0.0.1:{port}" in line and "Fix:" in line
    assert "\n" not in line
    assert len(load_results(run_dir)[1]) == 6 and (run_dir / "report.html").is_file()
    assert mlflow_log._trackers == {}


def test_a_tracker_failing_mid_run_closes_its_run(tmp_path: Path, store_dir: Path,
                                                  monkeypatch, caplog) -> None:
    """A failure after the start (here: logging a result raises): one warning, no more
    logging for the run, and the MLflow run is closed as FAILED, not left running."""
    pytest.importorskip("mlflow")

    def broken(self, result, **_):
        raise ValueError("disk full")

    monkeypatch.setenv("ZSBENCH_MLFLOW", "1")
    monkeypatch.setenv("ZSBENCH_MLFLOW_EXPERIMENT", "midrun")
    monkeypatch.setattr(mlflow_log._Tracker, "record", broken)
    with caplog.at_level(logging.WARNING, logger="zsbench"):
        run_dir = _run(tmp_path)
    (line,) = _warnings(caplog)
    assert "ValueError: disk full" in line and "Fix:" in line
    assert len(load_results(run_dir)[1]) == 6
    (parent,) = _runs(store_dir, "midrun")
    assert parent.info.status == "FAILED"
