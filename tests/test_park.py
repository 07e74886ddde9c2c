"""Park et al. 2024 on oracle generators: over-prompting scored against the intended factors
(``over_prompting``), its emergence step from the monitor, the concept-space paths
(``concept_paths``), the learning order over variants, and the Park suites and the
circles dataset's grey-ward colour line."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import conditional_toys
import generative_toys
import numpy as np
import pytest
import toy_plugins

from zsbench import hookimpl
from zsbench.emergence import over_prompt
from zsbench.errors import PluginParameterError
from zsbench.jobs import JobResult
from zsbench.plugin import Model, Monitor
from zsbench.registry import Registry
from zsbench.run import run_suite
from zsbench.space import LatentSpace
from zsbench.suite import load_suite
from zsbench_plugins.datasets.circles import CirclesDataset
from zsbench_plugins.metrics.over_prompting import OverPrompting
from zsbench_plugins.outputs.learning_order import draw_learning_order, learning_order_rows

SHIFT = 1.0  # in the toy's factor a in [0, 1]: every over-prompted request leaves the space


class HiddenCapability(conditional_toys.ExactGenerator):
    """Exact in the seen region; asked plainly for the hole, a far corner until step
    ``learn_at`` (default: never); asked beyond the space (``a`` > 1, over-prompted by
    ``SHIFT``), the intended point ``a - SHIFT`` from the start: a hidden capability."""

    name = "hidden_capability"

    def __init__(self, *, steps: int = 10, eval_every: int = 2, learn_at: int = 100) -> None:
        self.steps = steps
        self.eval_every = eval_every
        self.learn_at = learn_at

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None, factors: np.ndarray | None = None,
            space: LatentSpace | None = None, monitor: Monitor | None = None) -> Model:
        super().fit(images, seed=seed, factors=factors)
        for step in range(1, self.steps + 1):
            self.step_ = step
            if monitor is not None and step % self.eval_every == 0:
                monitor(step, self)
        return self

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        f = self._check(factors).copy()
        over = f[:, 0] > 1.0
        f[over, 0] -= SHIFT
        hole = ~over & (np.linalg.norm(f - 0.5, axis=1) <= 0.2)
        if getattr(self, "step_", self.steps) < self.learn_at:
            f[hole] = 1.0 - np.round(f[hole])  # a far corner instead
        return self.render(f)


@hookimpl
def zsbench_add_models() -> list[type]:
    return [HiddenCapability]


SUITE = """
[suite]
name = "park_toy"
seeds = [0]

[dataset]
plugin = "toy_recover"
n_samples = 400
size = 8

[[holdout]]
shape = "ball"
center = { a = 0.5, b = 0.5 }
radius = 0.2

[[model]]
plugin = "exact_gen"
label = "exact"

[[model]]
plugin = "learns_hole"
label = "never"
learn_at = 100

[[model]]
plugin = "hidden_capability"
label = "hidden"

[[metric]]
plugin = "conditional_generation"
samples = 1
max_requests = 48

[[metric]]
plugin = "over_prompting"
shift = { a = %s }
beyond_space = true
samples = 1
max_requests = 48

[[output]]
plugin = "concept_paths"
axes = ["a", "b"]
"""


def _registry() -> Registry:
    return Registry(extra=[toy_plugins, generative_toys, conditional_toys,
                           sys.modules[__name__]])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    where = tmp_path_factory.mktemp("park")
    registry = _registry()
    (where / "suite.toml").write_text(SUITE % SHIFT)
    suite = load_suite(where / "suite.toml", registry=registry)
    outcome = run_suite(suite, registry=registry, run_dir=where / "run",
                        executor=registry.create("executor", "local", {}))
    return where / "run", {r.label: r for r in outcome.results}


def _v(results: dict, label: str, name: str) -> float:
    return results[label].scores[name]["value"]


def test_over_prompt_sets_or_moves_factors() -> None:
    t = np.array([[0.2, 0.5], [0.9, 0.1]])
    assert np.allclose(over_prompt(t, ["a", "b"], prompt={"a": 1.3}), [[1.3, 0.5], [1.3, 0.1]])
    assert np.allclose(over_prompt(t, ["a", "b"], shift={"b": -0.1}), [[0.2, 0.4], [0.9, 0.0]])
    assert np.allclose(t, [[0.2, 0.5], [0.9, 0.1]])  # the targets are left as they were


def test_an_exact_generator_draws_the_prompt_not_the_target(run) -> None:
    _, res = run
    assert res["exact"].status == "ok"
    assert _v(res, "exact", "hole_gen_fail_rate") == 0.0
    # asked for target + 1 it draws that, clipped to the edge: off the intended point
    assert _v(res, "exact", "hole_prompted_fail_rate") == 1.0
    assert _v(res, "exact", "hole_prompted_valid_share") == 1.0
    assert math.isnan(_v(res, "exact", "hole_prompted_emergence_step"))  # no monitor


def test_a_generator_that_never_learns_the_hole_fails_plain_and_prompted(run) -> None:
    _, res = run
    assert _v(res, "never", "hole_gen_fail_rate") == 1.0
    assert _v(res, "never", "hole_prompted_fail_rate") == 1.0
    assert math.isnan(_v(res, "never", "hole_emergence_step"))
    assert math.isnan(_v(res, "never", "hole_prompted_emergence_step"))


def test_a_hidden_capability_emerges_earlier_under_over_prompting(run) -> None:
    _, res = run
    curve = res["hidden"].training["emergence"]["curve"]
    assert [r["hole_prompted_fail_rate"] for r in curve] == [0.0] * 5
    assert [r["hole_fail_rate"] for r in curve] == [1.0] * 5
    control = res["hidden"].training["emergence"]["control"]
    assert [r[f"{control}_fail_rate"] for r in curve] == [0.0] * 5  # the seen region: learned
    assert _v(res, "hidden", "hole_prompted_emergence_step") == 2.0  # the first evaluation
    assert math.isnan(_v(res, "hidden", "hole_emergence_step"))  # plainly: never
    assert _v(res, "hidden", "hole_gen_fail_rate") == 1.0
    assert _v(res, "hidden", "hole_prompted_fail_rate") == 0.0
    assert _v(res, "hidden", "hole_prompted_err") < 0.05
    # hole scores under over-prompting are controlled like the plain ones
    assert res["hidden"].scores["hole_prompted_fail_rate"]["control"] == [
        f"{control}_gen_fail_rate", 0.5]


def test_concept_paths_follow_the_draws_to_the_target(run) -> None:
    run_dir, res = run
    table = next(run_dir.glob("pictures/hidden/seed0/concept_paths.csv"))
    assert (table.parent / "concept_paths.png").stat().st_size > 0
    rows = list(csv.DictReader(table.open()))
    hole = [r for r in rows if r["set"] == "hole"]
    steps = sorted({int(r["step"]) for r in hole})
    assert steps == [2, 4, 6, 8, 10]
    record = res["hidden"].training["emergence"]
    target = np.mean(record["request_factors"]["hole"], axis=0)
    for step in ("2", "10"):  # asked plainly: far from the target at every step
        mean = np.mean([[float(r["a"]), float(r["b"])] for r in hole if r["step"] == step],
                       axis=0)
        assert np.linalg.norm(mean - target) > 0.1
    per_request = np.linalg.norm(np.asarray(record["found"][-1]["hole"])
                                 - np.asarray(record["request_factors"]["hole"]), axis=1)
    assert per_request.min() > 0.3  # each plain draw lands in a far corner
    prompted = [r for r in rows if r["set"] == "hole_prompted"]
    assert prompted and {int(r["step"]) for r in prompted} == set(steps)
    mean = np.mean([[float(r["a"]), float(r["b"])] for r in prompted], axis=0)
    assert mean == pytest.approx(target, abs=0.02)  # over-prompted: on the intended point
    assert not list(run_dir.glob("pictures/exact/seed0/concept_paths.*"))  # no curve


def test_prompts_outside_the_space_are_an_explicit_choice(tmp_path) -> None:
    registry = _registry()
    text = SUITE % SHIFT
    text = text.replace("shift = { a = 1.0 }\nbeyond_space = true", "prompt = { a = 1.3 }")
    assert "prompt = { a = 1.3 }" in text
    (tmp_path / "suite.toml").write_text(text)
    suite = load_suite(tmp_path / "suite.toml", registry=registry)
    refused = run_suite(suite, registry=registry, run_dir=tmp_path / "a",
                        executor=registry.create("executor", "local", {}))
    exact = next(r for r in refused.results if r.label == "exact")
    assert "beyond_space" in exact.failures["metric over_prompting"]
    assert "1.3" in exact.failures["metric over_prompting"]
    (tmp_path / "suite.toml").write_text(text.replace("prompt = { a = 1.3 }",
                                                      "prompt = { a = 1.3 }\nbeyond_space = true"))
    suite = load_suite(tmp_path / "suite.toml", registry=registry)
    asked = run_suite(suite, registry=registry, run_dir=tmp_path / "b",
                      executor=registry.create("executor", "local", {}))
    exact = next(r for r in asked.results if r.label == "exact")
    assert "metric over_prompting" not in exact.failures
    assert exact.scores["hole_prompted_found_a"]["value"] == pytest.approx(1.0)  # clipped


def test_over_prompting_parameters_are_checked() -> None:
    plain = OverPrompting()  # no prompt nor shift: the target itself
    assert plain.get_params()["prompt"] is None and plain.monitor_prompts() == {
        "hole_prompted": {"prompt": {}, "shift": {}}}
    with pytest.raises(PluginParameterError, match="prompt"):
        OverPrompting(prompt={"colour": "blue"})  # type: ignore[dict-item]
    assert OverPrompting(shift={"radius": -0.1}, label="small").monitor_prompts() == {
        "hole_small": {"prompt": {}, "shift": {"radius": -0.1}}}


def _job(label: str, seed: int, step: float, prompted: float) -> JobResult:
    return JobResult(label=label, plugin="p", seed=seed, status="ok",
                     training={"emergence": {"curve": []}}, scores={
        "hole_emergence_step": {"value": step, "higher_is_better": False},
        "hole_prompted_emergence_step": {"value": prompted, "higher_is_better": False}})


def test_learning_order_has_one_point_per_variant_and_seed(tmp_path) -> None:
    variants = [{"name": "sep_0.2", "axes": {"sep_col": 0.2}},
                {"name": "sep_0.8", "axes": {"sep_col": 0.8}}]
    results = {"sep_0.2": [_job("flow", 0, 3000.0, 1000.0), _job("flow", 1, math.nan, 1500.0)],
               "sep_0.8": [_job("flow", 0, 1000.0, 500.0), _job("flow", 1, 1250.0, 500.0)]}
    results["sep_0.8"].append(JobResult(label="memoriser", plugin="p", seed=0, status="ok"))
    rows = learning_order_rows(variants, results, axis="sep_col")
    assert len(rows) == 4 and {r["seed"] for r in rows} == {0, 1}
    first = next(r for r in rows if r["variant"] == "sep_0.2" and r["seed"] == 1)
    assert math.isnan(first["hole_emergence_step"]) and first["sep_col"] == 0.2
    assert first["hole_prompted_emergence_step"] == 1500.0
    path = draw_learning_order(rows, tmp_path / "learning_order.png", axis="sep_col",
                               steps_run=4000)
    assert path.stat().st_size > 0


def test_circles_colour_separation_moves_both_colours_towards_grey() -> None:
    red, blue = CirclesDataset().endpoints
    assert np.allclose(red, [0.9, 0.1, 0.1]) and np.allclose(blue, [0.1, 0.1, 0.9])
    red, blue = CirclesDataset(colour_separation=0.432).endpoints
    assert np.allclose(red, [0.716, 0.284, 0.284]) and np.allclose(blue, [0.284, 0.284, 0.716])
    d = CirclesDataset(n_per_class=16, image_size=16, colour_separation=0.3,
                       colour_jitter=0.054, radius_jitter=0.15)
    factors, images = d.load(seed=0)
    small = factors[:, 2] < 0.45
    assert factors[small, 2].min() >= 0.1 and factors[small, 2].max() <= 0.4
    assert np.ptp(factors[:16, 3]) > 0.1  # jittered along the colour line
    assert np.abs(d.recover(images).factors - factors).max() < 1e-4


@pytest.mark.parametrize("name", ["park2024_circles", "park2024_col_sweep"])
def test_the_park_suites_load_with_their_profiles(name: str) -> None:
    path = Path(__file__).parents[1] / "suites" / f"{name}.toml"
    for profile in ("smoke", "cpu", "faithful"):
        suite = load_suite(path, profile=profile)
        assert any(m.plugin == "over_prompting" for m in suite.metrics)
    faithful = load_suite(path, profile="faithful")
    flow = next(m for m in faithful.models if m.label == "diffusion_flow")
    assert list(flow.params["channel_mults"]) == [1, 2, 4] and flow.params["channels"] == 64
    assert flow.params["optimizer"] == "adamw" and flow.params["weight_decay"] == 0.01
