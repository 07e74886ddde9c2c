"""The pytest plugin (entry point pytest11): fixtures that run a suite once per session."""

from __future__ import annotations

import pytest

import zsbench.pytest_plugin

from conftest import TOY_SUITE

pytest_plugins = ["pytester"]


@pytest.fixture
def plugin_args(pytestconfig: pytest.Config) -> list[str]:
    """Load the plugin explicitly only where pytest did not load it by its entry point."""
    name = pytestconfig.pluginmanager.get_name(zsbench.pytest_plugin)
    return [] if name == "zsbench" else ["-p", "zsbench.pytest_plugin"]


@pytest.fixture(scope="module")
def _heavy_modules_imported() -> None:
    """In-process pytester runs drop the modules they imported when they end; torch cannot be
    imported twice in one process, so import it (and every plugin module) out here first."""
    import matplotlib.figure  # noqa: F401  (the plugins import these three where they use them)
    import scipy.stats  # noqa: F401
    import sklearn.neighbors  # noqa: F401
    import torch  # noqa: F401

    from zsbench.compare import compare  # noqa: F401
    from zsbench.registry import Registry
    from zsbench.torch_env import deterministic_algorithms

    Registry()
    with deterministic_algorithms():  # imports torch._inductor, lazily
        pass


@pytest.fixture
def toy_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                _heavy_modules_imported: None) -> pytest.Pytester:
    """A project with the toy suite; the toy plugins come in through ZSBENCH_PLUGINS."""
    monkeypatch.setenv("ZSBENCH_PLUGINS", "toy_plugins")
    pytester.path.joinpath("suite.toml").write_text(TOY_SUITE)
    return pytester


@pytest.mark.slow
def test_leaderboard_fixture_runs_each_suite_once_per_session(toy_project, plugin_args) -> None:
    toy_project.makepyfile(test_board='''
        import pandas as pd
        import pytest

        pytestmark = pytest.mark.zsbench("suite.toml", profile="smoke")

        def test_frame(zsbench_leaderboard):
            assert isinstance(zsbench_leaderboard, pd.DataFrame)
            assert list(zsbench_leaderboard.index) == ["pca2", "pca1-weighted"]
            assert (zsbench_leaderboard["status"] == "ok").all()
            assert zsbench_leaderboard.attrs["directions"]["hole_mse"] is False

        def test_values(zsbench_leaderboard):
            assert zsbench_leaderboard.loc["pca2", "hole_mse"] < 0.2
            assert zsbench_leaderboard.loc["pca2", "seeds"] == "2/2"

        @pytest.mark.zsbench("suite.toml", profile="smoke", seeds=[0], columns=["test_mse"])
        def test_other_seeds(zsbench_leaderboard):
            assert list(zsbench_leaderboard.columns) == ["seeds", "status", "test_mse",
                                                         "test_mse_std", "test_mse_lo",
                                                         "test_mse_hi"]
            assert zsbench_leaderboard.loc["pca2", "seeds"] == "1/1"
    ''')
    results = toy_project.path / "runs"
    out = toy_project.runpytest(*plugin_args, "--zsbench-results", str(results))
    out.assert_outcomes(passed=3)
    out.stdout.fnmatch_lines(["zsbench: run folders under *runs"])
    # two distinct runs: (suite, smoke, default seeds) once for two tests, and seeds [0]
    runs = sorted(p.name for p in results.iterdir())
    assert len(runs) == 2 and all(r.startswith("toy-smoke-") for r in runs)


def test_zsbench_run_fixture_and_regression_assertion(toy_project, plugin_args) -> None:
    toy_project.makeconftest('''
        import pytest
        import toy_plugins
        from zsbench.registry import Registry

        @pytest.fixture(scope="session")
        def zsbench_registry():   # plugins registered in code
            return Registry(autoload=False, extra=[toy_plugins])
    ''')
    toy_project.makepyfile(test_run='''
        import json
        import pytest
        from zsbench.compare import write_baseline

        def test_run(zsbench_run, tmp_path):
            run = zsbench_run("suite.toml", profile="smoke")
            assert run is zsbench_run("suite.toml", profile="smoke")  # cached
            assert not run.failed and len(run.results) == 4
            assert run.manifest["suite"]["profile"] == "smoke"
            scores = run.scores()
            assert set(scores["score"]) == {"test_mse", "hole_mse"}
            baseline = tmp_path / "baseline.json"
            write_baseline(run.run_dir, baseline)
            assert run.assert_no_regression(baseline).identical

            data = json.loads(baseline.read_text())
            data["models"]["pca2"]["scores"]["hole_mse"]["mean"] /= 2  # a better past
            baseline.write_text(json.dumps(data))
            with pytest.raises(AssertionError, match='model "pca2", score "hole_mse"'):
                run.assert_no_regression(baseline)
    ''')
    toy_project.runpytest(*plugin_args).assert_outcomes(passed=1)


def test_a_missing_suite_fails_the_test_clearly(toy_project, plugin_args) -> None:
    toy_project.makepyfile(test_nosuite='''
        import pytest

        def test_unmarked(zsbench_leaderboard):
            pass

        @pytest.mark.zsbench("missing.toml")
        def test_missing_file(zsbench_leaderboard):
            pass
    ''')
    out = toy_project.runpytest(*plugin_args)
    out.assert_outcomes(errors=2)
    out.stdout.fnmatch_lines(["*zsbench_leaderboard needs a suite*",
                              "*missing.toml*no such suite file*"])


def test_the_plugin_costs_nothing_when_unused(pytester: pytest.Pytester, plugin_args) -> None:
    """Loaded into every pytest run: it must not import zsbench's heavy parts, torch or
    pandas unless a fixture is used."""
    pytester.makepyfile(test_plain='''
        import sys

        def test_nothing_heavy_imported(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("zsbench") or \\
                pytestconfig.pluginmanager.has_plugin("zsbench.pytest_plugin")
            heavy = [m for m in ("torch", "pandas", "zsbench.run", "zsbench.registry")
                     if m in sys.modules]
            assert heavy == []
    ''')
    pytester.runpytest_subprocess(*plugin_args).assert_outcomes(passed=1)


def test_help_lists_the_option(pytester: pytest.Pytester, plugin_args) -> None:
    out = pytester.runpytest(*plugin_args, "--help")
    out.stdout.fnmatch_lines(["*--zsbench-results=DIR*", "*--zsbench-no-cache*"])


@pytest.mark.slow
def test_runs_use_the_cache_by_default_and_the_option_turns_it_off(toy_project, plugin_args,
                                                                   tmp_path) -> None:
    cache = tmp_path / "ci-cache"
    toy_project.makepyfile(test_cached='''
        import json, pathlib

        def test_run(zsbench_run):
            run = zsbench_run("suite.toml", profile="smoke")
            jobs = run.manifest["jobs"]
            pathlib.Path("trained.json").write_text(json.dumps(
                {"cache": run.manifest["cache"], "trained": [j["trained"] for j in jobs]}))
    ''')
    import json

    def session(*extra: str) -> dict:
        toy_project.runpytest(*plugin_args, *extra).assert_outcomes(passed=1)
        return json.loads((toy_project.path / "trained.json").read_text())

    first = session(f"--zsbench-cache-dir={cache}")
    assert first["cache"] == str(cache) and first["trained"] == [True] * 4
    again = session(f"--zsbench-cache-dir={cache}")
    assert again["trained"] == [False] * 4  # every model came from the cache
    off = session(f"--zsbench-cache-dir={cache}", "--zsbench-no-cache")
    assert off["cache"] is None and off["trained"] == [True] * 4


def test_a_regression_lists_itself_first_and_a_suite_change_can_be_allowed(
        toy_project, plugin_args) -> None:
    toy_project.makepyfile(test_regress='''
        import json
        import pytest
        from zsbench.compare import ComparisonError, write_baseline

        def test_run(zsbench_run, tmp_path):
            run = zsbench_run("suite.toml", profile="smoke")
            baseline = tmp_path / "baseline.json"
            write_baseline(run.run_dir, baseline)
            data = json.loads(baseline.read_text())
            data["models"]["pca2"]["scores"]["hole_mse"]["mean"] /= 2
            baseline.write_text(json.dumps(data))
            with pytest.raises(AssertionError) as info:
                run.assert_no_regression(baseline)
            text = str(info.value)
            assert text.startswith("1 regression(s) of ")
            assert text.splitlines()[1].startswith('  - model "pca2", score "hole_mse"')
            assert text.index("REGRESSION |") > text.index("  - model")  # then the table

            data["suite"]["name"] = "edited"
            data["models"]["pca2"]["scores"]["hole_mse"]["mean"] *= 2
            baseline.write_text(json.dumps(data))
            with pytest.raises(ComparisonError, match="different suites"):
                run.assert_no_regression(baseline)
            cmp = run.assert_no_regression(baseline, allow_suite_change=True)
            assert any("compared anyway" in n for n in cmp.notes)
    ''')
    toy_project.runpytest(*plugin_args).assert_outcomes(passed=1)
