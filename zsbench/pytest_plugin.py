"""zsbench's pytest plugin: assert benchmark results in a project's own tests.

Installed with zsbench (entry point ``pytest11``), it adds fixtures; a test run that uses
none of them pays nothing (zsbench, torch and pandas are imported only when a fixture runs a
suite). Each suite x profile x seeds runs once per test session, whichever tests ask::

    import pytest

    @pytest.mark.zsbench("suites/polar_hole.toml", profile="smoke")
    def test_the_vae_reconstructs_the_hole(zsbench_leaderboard):
        board = zsbench_leaderboard            # pandas DataFrame, one row per model
        assert board.loc["vae", "hole_bce"] < 0.2
        assert (board["status"] == "ok").all()

    def test_no_regression(zsbench_run):
        run = zsbench_run("suites/polar_hole.toml", profile="smoke")
        run.assert_no_regression("results/baselines/polar_hole-smoke.json")

Fixtures:

- ``zsbench_run`` (session): ``zsbench_run(suite, profile=None, seeds=None) -> SuiteRun``;
  a :class:`SuiteRun` has ``run_dir``, ``results``, ``manifest``, ``failed``,
  ``leaderboard(columns=None)`` (DataFrame), ``scores()`` (long DataFrame: one row per
  model x seed x score), ``compare(baseline)`` and ``assert_no_regression(baseline,
  allow_suite_change=False)`` (a failure lists the regressions first, then the table).
- ``zsbench_leaderboard``: the leaderboard DataFrame (``leaderboard_frame``: index model,
  columns ``status``, ``seeds``, each score and ``SCORE_std``) of the suite named by the
  test's ``@pytest.mark.zsbench(suite, profile=None, seeds=None, columns=None)`` marker (on
  the test, its class or its module), or by the ini options ``zsbench_suite`` /
  ``zsbench_profile``.
- ``zsbench_registry`` (session): the plugin registry used for runs; override it in a
  ``conftest.py`` to add plugins in code (``Registry(extra=[my_plugins])``).

Options: ``--zsbench-results DIR`` (ini ``zsbench_results``) keeps the run folders under DIR
(default: a temporary folder of the session). **Runs use zsbench's cache** of datasets and
trained models, as ``zsbench run`` does (``$ZSBENCH_CACHE_DIR``, else ``~/.cache/zsbench``;
``--zsbench-cache-dir DIR`` or ini ``zsbench_cache_dir`` elsewhere), so a CI session whose
models did not change trains nothing (keep the cache folder between CI jobs); a cached
model is reused only when its plugin's code, version, declared dependencies and parameters,
the data and the torch version all match. ``--zsbench-no-cache`` (ini ``zsbench_cache =
false``) retrains everything. Relative suite paths resolve against the rootdir.
``-p no:zsbench`` turns the plugin off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import pandas as pd

    from zsbench.compare import Comparison
    from zsbench.registry import Registry
    from zsbench.jobs import JobResult

MARKER = "zsbench"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("zsbench", "zsbench benchmark fixtures")
    group.addoption("--zsbench-results", metavar="DIR", default=None,
                    help="write the run folders of zsbench fixtures under DIR (default: a "
                         "temporary folder).")
    group.addoption("--zsbench-no-cache", action="store_true", default=False,
                    help="train every model of zsbench fixtures afresh instead of reusing "
                         "zsbench's cache of datasets and trained models.")
    group.addoption("--zsbench-cache-dir", metavar="DIR", default=None,
                    help="the cache folder (default: $ZSBENCH_CACHE_DIR or ~/.cache/zsbench).")
    parser.addini("zsbench_results", "default for --zsbench-results", default="")
    parser.addini("zsbench_cache", "use zsbench's cache (default true)", type="bool",
                  default=True)
    parser.addini("zsbench_cache_dir", "default for --zsbench-cache-dir", default="")
    parser.addini("zsbench_suite", "suite file for zsbench_leaderboard without a marker",
                  default="")
    parser.addini("zsbench_profile", "profile for zsbench_leaderboard without a marker",
                  default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(suite, profile=None, seeds=None, columns=None): the zsbench suite (and "
        "profile) that the zsbench_leaderboard fixture runs, once per session.")


def pytest_report_header(config: pytest.Config) -> str | None:
    where = _results_option(config)
    return f"zsbench: run folders under {where}" if where else None


def _cache_dir(config: pytest.Config) -> Path | None | bool:
    """False: no cache; None: the default folder; else the folder given."""
    if config.getoption("zsbench_no_cache", False) or not config.getini("zsbench_cache"):
        return False
    given = config.getoption("zsbench_cache_dir", None) or config.getini("zsbench_cache_dir")
    if not given:
        return None
    where = Path(given)
    return where if where.is_absolute() else Path(config.rootpath) / where


def _results_option(config: pytest.Config) -> str | None:
    return config.getoption("zsbench_results", None) or config.getini("zsbench_results") or None


@dataclass
class SuiteRun:
    """A finished zsbench run, as the fixtures return it."""

    suite: str
    profile: str | None
    run_dir: Path
    results: list[JobResult]
    manifest: dict[str, Any]
    columns: list[str] | None = None
    _boards: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def failed(self) -> list[JobResult]:
        """The model x seed jobs that failed."""
        return [r for r in self.results if r.status != "ok"]

    def leaderboard(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per model (index ``model``): ``status``, ``seeds``, and each score's mean
        over seeds with its ``_std``; by default the suite's leaderboard columns (or the
        headline scores). ``columns=["*"]`` gives every score."""
        from zsbench.results import leaderboard_frame

        wanted = list(columns) if columns else self.columns
        if wanted == ["*"]:
            wanted = list(dict.fromkeys(n for r in self.results for n in r.scores))
        key = tuple(wanted) if wanted else None
        if key not in self._boards:
            self._boards[key] = leaderboard_frame(self.results, wanted, run_dir=self.run_dir)
        return self._boards[key].copy()

    def scores(self) -> pd.DataFrame:
        """Every score of every job: columns label, plugin, seed, metric, score, value,
        higher_is_better, headline."""
        from zsbench.results import scores_frame

        return scores_frame(self.results)

    def compare(self, baseline: str | Path, **kwargs: Any) -> Comparison:
        """This run against a baseline file or a reference run folder
        (:func:`zsbench.compare.check_run`)."""
        from zsbench.compare import check_run

        return check_run(self.run_dir, baseline, **kwargs)

    def assert_no_regression(self, baseline: str | Path, *, allow_suite_change: bool = False,
                             **kwargs: Any) -> Comparison:
        """Compare with ``baseline`` and fail (AssertionError) on any regression: the
        message lists each regression (model, score, values, allowed worsening) first, then
        the whole comparison table. ``allow_suite_change=True`` compares the shared models
        and scores of runs of different suites (an edited suite) instead of refusing with a
        :class:`~zsbench.compare.ComparisonError`, as ``zsbench check
        --allow-suite-change`` does; other keywords go to :func:`zsbench.compare.compare`
        (``scores``, ``all_scores``). Returns the comparison."""
        from zsbench.compare import format_comparison
        from zsbench.errors import RegressionError

        cmp = self.compare(baseline, allow_suite_change=allow_suite_change, **kwargs)
        if cmp.regressions:
            first = RegressionError([r.describe() for r in cmp.regressions], cmp.new.source,
                                    cmp.base.source)
            raise AssertionError(f"{first}\n\n{format_comparison(cmp)}")
        return cmp


class _Runs:
    """The session's cache of runs, keyed by (suite path, profile, seeds)."""

    def __init__(self, config: pytest.Config, root: Callable[[], Path],
                 registry: Callable[[], Registry]) -> None:
        self.config = config
        self._root = root
        self._registry = registry
        self._cache: dict[tuple[str, str | None, tuple[int, ...] | None], Any] = {}

    def run(self, suite: str | Path, profile: str | None = None,
            seeds: Sequence[int] | None = None) -> SuiteRun:
        path = Path(suite)
        if not path.is_absolute():
            path = Path(self.config.rootpath) / path
        path = path.resolve()
        key = (str(path), profile, tuple(seeds) if seeds is not None else None)
        if key not in self._cache:
            try:
                self._cache[key] = self._run(path, profile, seeds)
            except Exception as exc:  # remember it: every test asking fails the same way
                self._cache[key] = exc
        got = self._cache[key]
        if isinstance(got, Exception):
            raise got
        return got

    def _run(self, path: Path, profile: str | None, seeds: Sequence[int] | None) -> SuiteRun:
        from zsbench.cache import Cache
        from zsbench.errors import ZsbenchError
        from zsbench.run import new_run_dir, run_suite
        from zsbench.suite import load_suite

        registry = self._registry()
        where = _cache_dir(self.config)
        cache = None if where is False else Cache(where or None)
        suite = load_suite(path, profile=profile, registry=registry)
        if suite.variants:
            raise ZsbenchError(f"{path}: has [variants] ({', '.join(suite.variants)}), which "
                               "run as suites of their own. Fix: give zsbench_run the "
                               "variant's own suite file (zsbench run writes it to "
                               "RUN/suites/NAME.toml), or a suite without variants.")
        if seeds is not None:
            suite.seeds = [int(s) for s in seeds]
        run_dir = new_run_dir(self._root(), suite)
        outcome = run_suite(suite, registry=registry, run_dir=run_dir, cache=cache,
                            argv=["pytest", "zsbench_run", str(path)]
                            + (["--profile", profile] if profile else []))
        columns = suite.leaderboard.get("columns")
        return SuiteRun(suite=str(path), profile=profile, run_dir=outcome.run_dir,
                        results=list(outcome.results), manifest=dict(outcome.manifest),
                        columns=list(columns) if columns else None)


@pytest.fixture(scope="session")
def zsbench_registry() -> Registry:
    """The plugin registry the zsbench fixtures run suites with (entry points and
    ``ZSBENCH_PLUGINS``). Override it in a conftest.py to register plugins in code."""
    from zsbench.registry import Registry

    return Registry()


@pytest.fixture(scope="session")
def _zsbench_runs(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> _Runs:
    config = request.config
    chosen: list[Path] = []

    def root() -> Path:
        if not chosen:
            option = _results_option(config)
            if option:
                where = Path(option)
                if not where.is_absolute():
                    where = Path(config.rootpath) / where
                where.mkdir(parents=True, exist_ok=True)
            else:
                where = tmp_path_factory.mktemp("zsbench-runs")
            chosen.append(where)
        return chosen[0]

    def registry() -> Registry:
        return request.getfixturevalue("zsbench_registry")

    return _Runs(config, root, registry)


@pytest.fixture(scope="session")
def zsbench_run(_zsbench_runs: _Runs) -> Callable[..., SuiteRun]:
    """``zsbench_run(suite, profile=None, seeds=None) -> SuiteRun``: run a suite (once per
    session for each suite, profile and seeds) and return the finished run."""
    return _zsbench_runs.run


@pytest.fixture
def zsbench_leaderboard(request: pytest.FixtureRequest,
                        zsbench_run: Callable[..., SuiteRun]) -> pd.DataFrame:
    """The leaderboard DataFrame of the suite named by ``@pytest.mark.zsbench(suite,
    profile=None, seeds=None, columns=None)`` (or the ini options ``zsbench_suite`` and
    ``zsbench_profile``), run once per session."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if not marker.args and "suite" not in marker.kwargs:
            pytest.fail(f"@pytest.mark.{MARKER} needs the suite file: "
                        f'@pytest.mark.{MARKER}("suites/x.toml", profile="smoke")', pytrace=False)
        suite = marker.args[0] if marker.args else marker.kwargs["suite"]
        profile = marker.kwargs.get("profile", marker.args[1] if len(marker.args) > 1 else None)
        seeds = marker.kwargs.get("seeds")
        columns = marker.kwargs.get("columns")
    else:
        suite = request.config.getini("zsbench_suite")
        profile = request.config.getini("zsbench_profile") or None
        seeds = columns = None
        if not suite:
            pytest.fail(
                f"zsbench_leaderboard needs a suite: mark the test with @pytest.mark.{MARKER}("
                '"suites/x.toml", profile="smoke") or set zsbench_suite in the pytest ini.',
                pytrace=False)
    return zsbench_run(suite, profile=profile, seeds=seeds).leaderboard(columns)
