"""Regression checks: baselines, `zsbench check`/`compare`, tolerances and verdicts."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import toy_plugins
from conftest import TOY_SUITE
from zsbench import hookimpl
from zsbench.cli import main
from zsbench.compare import (
    BETTER,
    FAILED,
    METRIC_FAILED,
    REGRESSION,
    SAME,
    WORSE_OK,
    ComparisonError,
    ModelSummary,
    ScoreSummary,
    Summary,
    Tolerance,
    check_run,
    compare,
    load_baseline,
    parse_tolerances,
    resolve_tolerance,
    summarize_run,
    write_baseline,
)
from zsbench.errors import RegressionError
from zsbench.registry import Registry
from zsbench.run import run_suite
from zsbench.suite import load_suite


class ToyAE(toy_plugins.LinearModel):
    """A linear autoencoder trained by subspace iteration, one step per epoch (numpy)."""

    name = "toy_ae"
    # A planted code regression: tests set this to 0 to train every model for 0 epochs
    # without touching the suite (exactly what a broken training loop would do).
    epoch_limit: int | None = None

    def __init__(self, *, latent_dim: int = 2, epochs: int = 4) -> None:
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.mode = "ok"

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> ToyAE:
        epochs = self.epochs if self.epoch_limit is None else min(self.epochs, self.epoch_limit)
        x = images.reshape(len(images), -1).astype(np.float64)
        rng = np.random.default_rng(seed)
        q, _ = np.linalg.qr(rng.normal(size=(x.shape[1], self.latent_dim)))
        self.mean_ = x.mean(0) if epochs > 0 else np.zeros(x.shape[1])
        cov = (x - self.mean_).T @ (x - self.mean_)
        for _ in range(epochs):
            q, _ = np.linalg.qr(cov @ q)
        self.components_ = q.T
        self.shape_ = images.shape[1:]
        return self


class FlakyMetric(toy_plugins.MSEMetric):
    """An extra metric that tests can make raise."""

    name = "flaky"
    broken = False

    def compute(self, ctx):  # noqa: ANN001, ANN201
        if self.broken:
            raise RuntimeError("planted metric bug")
        return {f"flaky_{k}": v for k, v in super().compute(ctx).items()}


class ExtraPlugins:
    @hookimpl
    def zsbench_add_models(self) -> list[type]:
        return [ToyAE]

    @hookimpl
    def zsbench_add_metrics(self) -> list[type]:
        return [FlakyMetric]


SUITE = TOY_SUITE.replace('''[[metric]]
plugin = "mse"''', '''[[model]]
plugin = "toy_ae"
label = "ae"
latent_dim = 2
epochs = 6

[[metric]]
plugin = "mse"

[[metric]]
plugin = "flaky"

[tolerances]
default = { relative = 0.05, absolute = 1e-9 }
hole_mse = { relative = 0.10 }
''')


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(extra=[toy_plugins, ExtraPlugins()])


@pytest.fixture
def run(registry: Registry, tmp_path: Path):  # noqa: ANN201
    """run(name, text=SUITE) -> run folder of a fresh run of the suite text."""

    def run_(name: str, text: str = SUITE) -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        suite = load_suite(path, registry=registry)
        out = run_suite(suite, registry=registry, run_dir=tmp_path / name)
        return out.run_dir

    return run_


@pytest.fixture(scope="module")
def reference(registry: Registry, tmp_path_factory) -> tuple[Path, Path]:  # noqa: ANN001
    """One reference run of SUITE and its baseline (written through the CLI)."""
    where = tmp_path_factory.mktemp("reference")
    path = where / "suite.toml"
    path.write_text(SUITE)
    suite = load_suite(path, registry=registry)
    run_dir = run_suite(suite, registry=registry, run_dir=where / "run").run_dir
    baseline = where / "toy-baseline.json"
    assert main(["baseline", str(run_dir), "--out", str(baseline)]) == 0
    return run_dir, baseline


@pytest.fixture(scope="module")
def rerun(registry: Registry, tmp_path_factory) -> Path:  # noqa: ANN001
    """A second, independent run of SUITE (same code, same seeds)."""
    where = tmp_path_factory.mktemp("rerun")
    path = where / "suite.toml"
    path.write_text(SUITE)
    suite = load_suite(path, registry=registry)
    return run_suite(suite, registry=registry, run_dir=where / "run").run_dir


@pytest.fixture
def variant(reference, tmp_path: Path):  # noqa: ANN001, ANN201
    """variant(name, suite_text=None, edit=None) -> a copy of the reference run folder whose
    suite.toml is replaced and whose metrics.json data is passed through ``edit``: cheap
    stand-ins for runs of another suite (the comparison reads only these files)."""

    def variant_(name: str, suite_text: str | None = None, edit=None) -> Path:  # noqa: ANN001
        out = tmp_path / name
        shutil.copytree(reference[0], out, ignore=shutil.ignore_patterns("checkpoints"))
        if suite_text is not None:
            (out / "suite.toml").write_text(suite_text)
            manifest = json.loads((out / "manifest.json").read_text())
            manifest["suite"]["config_hash"] = "edited"
            name_line = [ln for ln in suite_text.splitlines() if ln.startswith("name = ")]
            manifest["suite"]["name"] = name_line[0].split('"')[1]
            (out / "manifest.json").write_text(json.dumps(manifest))
        if edit is not None:
            data = json.loads((out / "metrics.json").read_text())
            edit(data["results"])
            (out / "metrics.json").write_text(json.dumps(data))
        return out

    return variant_


# -- the contract of the issue -------------------------------------------------------------
def test_identical_rerun_passes_and_a_degraded_model_fails(reference, rerun, run, monkeypatch,
                                                           capsys) -> None:
    _, baseline = reference
    assert main(["check", str(rerun), "--baseline", str(baseline)]) == 0
    out = capsys.readouterr().out
    assert "REGRESSION" not in out and "no regression" in out
    # CPU, same environment, deterministic algorithms on: bit-identical.
    assert "bit-identical" in out
    assert check_run(rerun, baseline).identical

    monkeypatch.setattr(ToyAE, "epoch_limit", 0)  # the "ae" model now trains for 0 epochs
    degraded = run("degraded")
    assert main(["check", str(degraded), "--baseline", str(baseline)]) == 1
    captured = capsys.readouterr()
    assert "REGRESSION" in captured.out
    assert 'model "ae", score "test_mse"' in captured.err
    assert 'model "ae", score "hole_mse"' in captured.err
    cmp = check_run(degraded, baseline)
    bad = {(r.model, r.score) for r in cmp.regressions}
    assert bad >= {("ae", "test_mse"), ("ae", "hole_mse")}
    assert all(model == "ae" for model, _ in bad)  # the untouched models still pass
    with pytest.raises(RegressionError, match='model "ae"'):
        cmp.raise_for_regressions()


def test_compare_two_runs(reference, rerun, capsys) -> None:
    run_a, _ = reference
    run_b = rerun
    assert main(["compare", str(run_a), str(run_b), "--all-scores"]) == 0
    out = capsys.readouterr().out
    for name in ("pca2", "pca1-weighted", "ae", "test_mse", "hole_mse", "flaky_test_mse"):
        assert name in out
    assert "identical" in out and "same" in out


# -- usage errors (exit 2) -------------------------------------------------------------------
def test_different_suites_exit_2(reference, variant, capsys) -> None:
    run_a, baseline = reference
    other = variant("other", SUITE.replace("n_samples = 300", "n_samples = 200"))
    for argv in (["compare", str(run_a), str(other)],
                 ["check", str(other), "--baseline", str(baseline)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "different suites" in err and "configuration" in err and "Fix:" in err
    renamed = variant("renamed", SUITE.replace('name = "toy"', 'name = "toy2"'))
    assert main(["compare", str(run_a), str(renamed)]) == 2
    assert "suite name 'toy' vs 'toy2'" in capsys.readouterr().err
    # On purpose: compared anyway, with a note.
    assert main(["compare", str(run_a), str(other), "--allow-suite-change"]) in (0, 1)
    assert "different suites" in capsys.readouterr().out


def test_changing_only_tolerances_keeps_the_baseline_valid(reference, variant, capsys) -> None:
    _, baseline = reference
    looser = variant("looser", SUITE.replace("hole_mse = { relative = 0.10 }",
                                         "hole_mse = { relative = 0.20 }"))
    assert main(["check", str(looser), "--baseline", str(baseline)]) == 0
    out = capsys.readouterr().out
    assert "only [tolerances] or [leaderboard] differ" in out
    assert "0.2×" in out


def test_a_missing_score_is_a_usage_error_naming_it(reference, variant, tmp_path,
                                                    capsys) -> None:
    _, baseline = reference
    data = json.loads(baseline.read_text())
    data["models"]["ae"]["scores"]["ghost_score"] = {
        "mean": 1.0, "std": 0.0, "higher_is_better": False, "metric": "ghost", "n": 2}
    data["scores"].append("ghost_score")
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    rerun = variant("rerun")
    assert main(["check", str(rerun), "--baseline", str(edited)]) == 2
    err = capsys.readouterr().err
    assert 'score "ghost_score" of model "ae" is missing from' in err
    assert str(rerun) in err
    assert main(["check", str(rerun), "--baseline", str(baseline), "--scores", "hole_mes"]) == 2
    assert 'did you mean "hole_mse"' in capsys.readouterr().err


def test_a_missing_model_is_a_usage_error(reference, variant, capsys) -> None:
    run_a, _ = reference

    def rename(results: list) -> None:  # noqa: ANN001
        for r in results:
            r["label"] = "pca-two" if r["label"] == "pca2" else r["label"]

    fewer = variant("fewer", SUITE.replace('label = "pca2"', 'label = "pca-two"'), rename)
    assert main(["compare", str(run_a), str(fewer), "--allow-suite-change"]) == 0
    assert "only in" in capsys.readouterr().out
    with pytest.raises(ComparisonError, match="'pca2' only in"):
        compare(summarize_run(run_a), _renamed(summarize_run(run_a), "pca2", "pca-two"))


def _renamed(summary: Summary, old: str, new: str) -> Summary:
    summary.models[new] = summary.models.pop(old)
    return summary


def test_bad_paths_and_tolerance_typos_exit_2(reference, variant, tmp_path, capsys) -> None:
    run_a, baseline = reference
    assert main(["check", str(tmp_path / "nope"), "--baseline", str(baseline)]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert main(["check", str(run_a), "--baseline", str(tmp_path / "nope.json")]) == 2
    assert "no such baseline file" in capsys.readouterr().err
    typo = variant("typo", SUITE.replace("hole_mse = {", "hole_mes = {"))
    assert main(["check", str(typo), "--baseline", str(baseline)]) == 2
    err = capsys.readouterr().err
    assert "hole_mes" in err and 'did you mean "hole_mse"' in err
    with pytest.raises(SystemExit) as info:  # argparse: --baseline is required
        main(["check", str(run_a)])
    assert info.value.code == 2
    assert "--baseline" in capsys.readouterr().err


# -- failures are regressions -------------------------------------------------------------------
def test_a_model_that_fails_now_is_a_regression(reference, run, monkeypatch, capsys) -> None:
    _, baseline = reference

    def boom(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise RuntimeError("planted training bug")

    monkeypatch.setattr(ToyAE, "fit", boom)
    broken = run("broken")
    assert main(["check", str(broken), "--baseline", str(baseline)]) == 1
    err = capsys.readouterr().err
    assert 'model "ae": failed in the new run' in err and "planted training bug" in err
    rows = check_run(broken, baseline).regressions
    assert [(r.model, r.verdict) for r in rows] == [("ae", FAILED)]


def test_a_metric_that_raises_now_is_a_regression(reference, run, monkeypatch, capsys) -> None:
    run_a, _ = reference
    monkeypatch.setattr(FlakyMetric, "broken", True)
    broken = run("metric-broken")
    assert main(["compare", str(run_a), str(broken), "--all-scores"]) == 1
    err = capsys.readouterr().err
    assert "planted metric bug" in err and 'score "flaky_hole_mse"' in err
    verdicts = {r.verdict for r in compare_runs_rows(run_a, broken)}
    assert METRIC_FAILED in verdicts


def compare_runs_rows(a: Path, b: Path) -> list:
    return compare(summarize_run(a), summarize_run(b), all_scores=True).regressions


# -- baselines -----------------------------------------------------------------------------------
def test_baseline_is_compact_sorted_and_exact(reference) -> None:
    run_a, baseline = reference
    text = baseline.read_text()
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data["suite"]["name"] == "toy" and data["suite"]["profile"] is None
    assert data["environment"]["device"] == "cpu" and data["environment"]["deterministic"]
    assert set(data["environment"]) >= {"zsbench", "torch", "numpy", "python", "device"}
    assert data["tolerances"]["hole_mse"] == {"relative": 0.10}
    assert set(data["models"]) == {"pca2", "pca1-weighted", "ae"}
    # headline scores only, by default; one line per score
    assert set(data["models"]["ae"]["scores"]) == {"test_mse", "hole_mse", "flaky_test_mse",
                                                   "flaky_hole_mse"}
    assert len(text.splitlines()) < 60
    fresh = summarize_run(run_a)
    loaded = load_baseline(baseline)
    for label, m in loaded.models.items():
        for name, s in m.scores.items():
            assert s.mean == fresh.models[label].scores[name].mean  # bit-exact round trip
            assert s.std == fresh.models[label].scores[name].std
            assert s.n == 2


def test_baseline_score_selection(reference, tmp_path) -> None:
    run_a, _ = reference
    some = write_baseline(run_a, tmp_path / "some.json", scores=["hole_mse"])
    assert some["scores"] == ["hole_mse"]
    assert check_run(run_a, tmp_path / "some.json").rows[0].score == "hole_mse"
    with pytest.raises(ComparisonError, match='score "hole_mes"'):
        write_baseline(run_a, tmp_path / "x.json", scores=["hole_mes"])


def test_baseline_default_path(reference, tmp_path, monkeypatch, capsys) -> None:
    run_a, _ = reference
    monkeypatch.chdir(tmp_path)
    assert main(["baseline", str(run_a)]) == 0
    assert (tmp_path / "results" / "baselines" / "toy.json").is_file()
    assert "wrote results/baselines/toy.json" in capsys.readouterr().out


def test_environment_differences_are_reported(reference, tmp_path, capsys) -> None:
    run_a, baseline = reference
    data = json.loads(baseline.read_text())
    data["environment"]["torch"] = "1.0.0"
    data["environment"]["device"] = "cuda (Some GPU)"
    other = tmp_path / "other-env.json"
    other.write_text(json.dumps(data))
    assert main(["check", str(run_a), "--baseline", str(other)]) == 0
    out = capsys.readouterr().out
    assert "environments differ" in out and "torch 1.0.0 vs" in out
    assert "need not be bit-identical" in out
    assert not check_run(run_a, other).same_environment


# -- tolerances and verdicts ------------------------------------------------------------------------
def _summary(values: dict[str, tuple[float, float, bool]], tolerances=None) -> Summary:  # noqa: ANN001
    scores = {n: ScoreSummary(mean=m, std=s, higher_is_better=h, headline=True, metric="m",
                              n=3) for n, (m, s, h) in values.items()}
    env = {"device": "cpu", "torch": "2", "numpy": "2", "deterministic": True}
    return Summary(source="x", kind="run", suite={"name": "s", "profile": None,
                                                  "config_hash": "h", "experiment_hash": "e"},
                   environment=env, tolerances=tolerances or {},
                   models={"m": ModelSummary(status="ok", seeds=[0, 1, 2], scores=scores)})


@pytest.mark.parametrize(("base", "new", "higher", "verdict"), [
    (1.0, 1.0, False, SAME),
    (1.0, 0.5, False, BETTER),
    (1.0, 1.05, False, WORSE_OK),
    (1.0, 1.2, False, REGRESSION),
    (1.0, 1.5, True, BETTER),
    (1.0, 0.95, True, WORSE_OK),
    (1.0, 0.8, True, REGRESSION),
    (-1.0, -1.2, True, REGRESSION),  # |baseline| scales the relative tolerance
    (-1.0, -0.8, True, BETTER),
    (0.0, 0.0, False, SAME),
    (math.nan, math.nan, False, SAME),
    (1.0, math.nan, False, "REGRESSION (now NaN)"),
    (math.nan, 1.0, False, BETTER),
])
def test_verdicts_follow_each_scores_direction(base, new, higher, verdict) -> None:
    tol = {"default": {"relative": 0.1}}
    cmp = compare(_summary({"s": (base, 0.0, higher)}),
                  _summary({"s": (new, 0.0, higher)}, tol))
    assert cmp.rows[0].verdict == verdict
    assert cmp.exit_code == (1 if "REGRESSION" in verdict else 0)


def test_tolerance_resolution_and_spread() -> None:
    table = parse_tolerances({"default": {"relative": 0.1}, "m": {"absolute": 0.5},
                              "s": {"absolute": 0.01, "spread": 2}})
    assert resolve_tolerance(table, "s", "m") == table["s"]  # score name first
    assert resolve_tolerance(table, "t", "m") == table["m"]  # then the metric plugin
    assert resolve_tolerance(table, "t", "other") == table["default"]
    assert resolve_tolerance({}, "t", None).source == "the builtin default"
    assert table["s"].allowed(10.0, std=0.1) == pytest.approx(0.01 + 2 * 0.1)
    assert Tolerance(relative=0.1, absolute=1).allowed(-5.0) == pytest.approx(1.5)
    # the spread over seeds widens the tolerance
    base = _summary({"s": (1.0, 0.1, False)})
    new = _summary({"s": (1.15, 0.1, False)}, {"s": {"absolute": 0.01, "spread": 2}})
    assert compare(base, new).rows[0].verdict == WORSE_OK
    new = _summary({"s": (1.15, 0.1, False)}, {"s": {"absolute": 0.01}})
    assert compare(base, new).rows[0].verdict == REGRESSION


@pytest.mark.parametrize(("table", "message"), [
    ({"default": 0.1}, "expected a table"),
    ({"default": {"relativ": 0.1}}, 'did you mean "relative"'),
    ({"default": {"relative": -1}}, "non-negative"),
    ({"default": {"absolute": True}}, "non-negative"),
])
def test_bad_tolerances_are_usage_errors(table, message) -> None:
    with pytest.raises(ComparisonError, match=message) as info:
        parse_tolerances(table)
    assert info.value.exit_code == 2


# -- the same contract with a real torch model ------------------------------------------------
TINY_POLAR = """
[suite]
name = "tiny_polar"
seeds = [0]

[dataset]
plugin = "polar"
n_samples = 160
image_size = 16

[[holdout]]
shape = "ball"
center = { a = 1.25, b = 1.0 }
radius = 0.3

[[model]]
plugin = "ae"
label = "ae"
latent_dim = 2
epochs = 6
batch_size = 8
lr = 3e-3
device = "cpu"
progress = false

[[metric]]
plugin = "holdout_reconstruction"

[tolerances]
default = { relative = 0.05, absolute = 1e-3 }
"""


@pytest.fixture
def one_torch_thread():  # noqa: ANN201
    """Tiny convolutions run fastest (and steadiest on a shared machine) on one thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_an_untrained_torch_model_fails_the_check(toy_registry, tmp_path, monkeypatch, capsys,
                                                  one_torch_thread) -> None:
    """The standard `ae`, trained for 0 epochs by a planted bug in the training call, fails
    `zsbench check` against the baseline of a correct run; a correct rerun passes,
    bit-identical."""
    import zsbench_plugins.models.base as base

    path = tmp_path / "tiny.toml"
    path.write_text(TINY_POLAR)
    suite = load_suite(path, registry=toy_registry)

    def run_(name: str) -> Path:
        return run_suite(suite, registry=toy_registry, run_dir=tmp_path / name).run_dir

    baseline = tmp_path / "tiny.json"
    write_baseline(run_("good"), baseline)
    assert main(["check", str(run_("again")), "--baseline", str(baseline)]) == 0
    assert "3 of 3 values bit-identical" in capsys.readouterr().out

    real_train = base.train
    monkeypatch.setattr(base, "train",
                        lambda *a, **k: real_train(*a, **{**k, "epochs": 0}))
    assert main(["check", str(run_("untrained")), "--baseline", str(baseline)]) == 1
    captured = capsys.readouterr()
    assert "REGRESSION" in captured.out
    assert 'model "ae", score "hole_excess_bce"' in captured.err
    assert 'model "ae", score "test_peak_err"' in captured.err
