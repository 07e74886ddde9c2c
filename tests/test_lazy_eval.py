"""Evaluation computes a split's latents and draws only when a metric or output reads them,
once, shared (``zsbench.lazy.LazySplits`` in ``zsbench.runner.evaluate``); a draw that
breaks the contract still fails the job, whichever metric read it first."""

from __future__ import annotations

import sys

import conditional_toys
import generative_toys
import numpy as np
import pytest
import toy_plugins

from zsbench import hookimpl
from zsbench.errors import ZsbenchError
from zsbench.jobs import Job, JobResult
from zsbench.lazy import LazySplits, record_on_demand
from zsbench.registry import Registry
from zsbench.runner import evaluate, prepare_data, run_job
from zsbench.suite import load_suite

SUITE = """
[suite]
name = "lazy_toy"
seeds = [0]

[dataset]
plugin = "toy_recover"
n_samples = 200
size = 8

[[holdout]]
shape = "ball"
center = { a = 0.5, b = 0.5 }
radius = 0.2

[[model]]
plugin = "%s"
label = "m"

[[metric]]
plugin = "mse"
splits = ["hole"]
"""


class CountingGenerator(conditional_toys.ExactGenerator):
    """The exact generator, counting the rows it was asked for per call."""

    name = "counting_gen"
    calls: list[int] = []

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        type(self).calls.append(len(factors))
        return super().generate(factors, seed=seed)


class NanInHole(conditional_toys.ExactGenerator):
    """Exact outside the hole, NaN images inside it: broken only where asked for the hole."""

    name = "nan_in_hole"

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        out = super().generate(factors, seed=seed)
        inside = np.linalg.norm(np.asarray(factors) - 0.5, axis=1) < 0.2
        out[inside] = np.nan
        return out


@hookimpl
def zsbench_add_models() -> list[type]:
    return [CountingGenerator, NanInHole]


def _setup(tmp_path, plugin: str):  # noqa: ANN001, ANN202
    registry = Registry(extra=[toy_plugins, generative_toys, conditional_toys,
                               sys.modules[__name__]])
    (tmp_path / "suite.toml").write_text(SUITE % plugin)
    suite = load_suite(tmp_path / "suite.toml", registry=registry)
    return suite, registry, prepare_data(suite, registry)


def test_lazy_splits_compute_once_on_first_read_and_never_for_membership() -> None:
    asked: list[str] = []

    def compute(name: str) -> np.ndarray:
        asked.append(name)
        return np.full((2, 3), float(len(asked)))

    lazy = LazySplits(["train", "hole"], compute, ready={"rim": np.zeros((0, 3))})
    assert "train" in lazy and "rim" in lazy and "test" not in lazy
    assert list(lazy) == ["train", "hole", "rim"] and len(lazy) == 3 and asked == []
    assert lazy["hole"][0, 0] == 1.0 and lazy["hole"][0, 0] == 1.0 and asked == ["hole"]
    assert lazy.computed() == ("hole",) and lazy.get("test") is None
    with pytest.raises(ValueError, match="read-only"):
        lazy["hole"][...] = 0.0
    with pytest.raises(KeyError):
        lazy["validation"]


def test_a_contract_error_is_kept_and_fails_the_job_record() -> None:
    def broken(name: str) -> np.ndarray:
        raise ZsbenchError(f'model "m": generate on {name} returned NaN')

    lazy = LazySplits(["hole"], broken)
    for _ in range(2):  # raised again to a later reader, not recomputed into a value
        with pytest.raises(ZsbenchError, match="NaN"):
            lazy["hole"]
    result = JobResult(label="m", plugin="p", seed=0, status="ok",
                       scores={"x": {"value": 1.0}})
    record_on_demand([{}, lazy], result)
    assert result.status == "failed" and result.error.startswith("evaluating: ")
    assert "NaN" in result.error and result.scores == {} and "draws_s" in result.timings


def test_evaluate_draws_a_split_only_when_read_and_only_once(tmp_path) -> None:
    suite, registry, data = _setup(tmp_path, "counting_gen")
    model = registry.create("model", "counting_gen", {})
    model.fit(data.splits["train"].images, seed=0, factors=data.splits["train"].factors)
    CountingGenerator.calls.clear()
    ctx = evaluate(model, data, label="m", seed=0, holdout=suite.holdout)
    # nothing but the run-time seed check (a few rows, asked twice) before a metric reads
    n_hole, checked = len(data.splits["hole"]), sum(CountingGenerator.calls)
    assert checked < min(n_hole, 20) and ctx.latents == {}
    assert "train" in ctx.reconstructions and ctx.reconstructions.computed() == ()
    hole = ctx.reconstructions["hole"]
    again = ctx.reconstructions["hole"]
    assert again is hole and ctx.reconstructions.computed() == ("hole",)
    assert sum(CountingGenerator.calls) == checked + n_hole  # the hole's draws, once
    assert np.array_equal(hole, model.generate(data.splits["hole"].factors, seed=1))


def test_a_job_never_draws_the_training_split_nobody_reads(tmp_path) -> None:
    suite, registry, data = _setup(tmp_path, "counting_gen")
    CountingGenerator.calls.clear()
    result = run_job(Job(label="m", plugin="counting_gen", params={}, weighting=None,
                         seed=0), data, suite, registry, None)
    assert result.status == "ok" and np.isfinite(result.scores["hole_mse"]["value"])
    assert len(data.splits["train"]) not in CountingGenerator.calls
    assert sum(CountingGenerator.calls) < len(data.splits["train"])
    assert result.timings["draws_s"] >= 0.0


def test_a_nan_draw_read_by_a_metric_fails_the_job(tmp_path) -> None:
    suite, registry, data = _setup(tmp_path, "nan_in_hole")
    result = run_job(Job(label="m", plugin="nan_in_hole", params={}, weighting=None, seed=0),
                     data, suite, registry, None)
    assert result.status == "failed" and result.error.startswith("evaluating: ")
    assert "NaN" in result.error and result.scores == {}


def test_rows_of_a_generator_draw_only_those_rows_once_and_the_same_whatever_ran_first() -> None:
    asked: list[tuple[str, int]] = []

    def compute(name: str) -> np.ndarray:
        asked.append((name, 10))
        return np.arange(10.0)[:, None] * 2

    def compute_rows(name: str, rows: np.ndarray) -> np.ndarray:
        asked.append((name, len(rows)))
        return rows.astype(float)[:, None] * 2 + 0.5  # another draw than the whole split's

    lazy = LazySplits(["train"], compute, compute_rows=compute_rows, sizes={"train": 10})
    rows = np.array([0, 4, 9])
    first = lazy.rows("train", rows)
    assert asked == [("train", 3)] and first[:, 0].tolist() == [0.5, 8.5, 18.5]
    assert lazy.rows("train", rows) is first and asked == [("train", 3)]  # once
    lazy["train"]  # another reader draws the whole split ...
    assert np.array_equal(lazy.rows("train", rows), first)  # ... the subset stays its own
    assert np.array_equal(lazy.rows("train", np.arange(10)), lazy["train"])  # all rows: whole
    assert asked == [("train", 3), ("train", 10)]
    plain = LazySplits(["train"], compute)  # no compute_rows (an autoencoder): indexed
    assert plain.rows("train", rows)[:, 0].tolist() == [0.0, 8.0, 18.0]


def test_holdout_reconstruction_draws_at_most_max_draws_of_the_training_split(tmp_path) -> None:
    suite, registry, data = _setup(tmp_path, "counting_gen")
    model = registry.create("model", "counting_gen", {})
    model.fit(data.splits["train"].images, seed=0, factors=data.splits["train"].factors)
    metric = registry.create("metric", "holdout_reconstruction", {"max_draws": 25})
    ctx = evaluate(model, data, label="m", seed=0, holdout=suite.holdout)
    CountingGenerator.calls.clear()
    scores = metric.compute(ctx)
    n_train = len(data.splits["train"])
    assert n_train > 25 and max(CountingGenerator.calls) <= 25  # never the whole split
    assert "train" not in ctx.reconstructions.computed()
    assert len(scores["train_mse"].items) == 25 and scores["train_mse"].value == 0.0
    whole = registry.create("metric", "holdout_reconstruction", {"max_draws": None})
    assert len(whole.compute(ctx)["train_mse"].items) == n_train


def test_factor_recovery_and_holdout_reconstruction_share_one_capped_set_of_draws(
        tmp_path) -> None:
    suite, registry, data = _setup(tmp_path, "counting_gen")
    model = registry.create("model", "counting_gen", {})
    model.fit(data.splits["train"].images, seed=0, factors=data.splits["train"].factors)
    ctx = evaluate(model, data, label="m", seed=0, holdout=suite.holdout)
    CountingGenerator.calls.clear()
    recovery = registry.create("metric", "factor_recovery", {"max_draws": 25})
    scores = recovery.compute(ctx)
    drawn = sum(CountingGenerator.calls)
    assert scores["train_fail_rate"].value == 0.0 and len(scores["train_fail_rate"].items) == 25
    registry.create("metric", "holdout_reconstruction", {"max_draws": 25}).compute(ctx)
    assert sum(CountingGenerator.calls) == drawn  # the same rows: nothing drawn again
    assert all(n <= 25 for n in CountingGenerator.calls)


def test_two_instances_of_one_metric_keep_their_own_items(tmp_path) -> None:
    """Two ``item_mse`` metrics on different splits (as two ``over_prompting`` prompts): each
    keeps its per-item file, so neither score loses its interval over seeds."""
    from zsbench.names import instance_names
    from zsbench.results import job_items

    assert instance_names(["a", "b", "a"]) == ["a-1", "b", "a-2"]
    registry = Registry(extra=[toy_plugins, generative_toys, conditional_toys,
                               sys.modules[__name__]])
    two = (SUITE % "counting_gen").replace('"mse"', '"item_mse"') + (
        '\n[[metric]]\nplugin = "item_mse"\nsplits = ["test"]\n')
    (tmp_path / "suite.toml").write_text(two)
    suite = load_suite(tmp_path / "suite.toml", registry=registry)
    data = prepare_data(suite, registry)
    result = run_job(Job(label="m", plugin="counting_gen", params={}, weighting=None, seed=0),
                     data, suite, registry, tmp_path)
    assert result.scores["hole_item_mse"]["metric"] == "item_mse-1"
    assert result.scores["test_item_mse"]["metric"] == "item_mse-2"
    for name in ("hole_item_mse", "test_item_mse"):
        items = job_items(tmp_path, result, name)
        assert items is not None and items.n == len(data.splits[name.split("_")[0]]), name
