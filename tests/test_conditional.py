"""Conditional generators under the zero-shot tests: the `conditional_generation` metric on
oracle generators, the emergence monitor, skips as "n/a", and the kit's generator checks
catching planted faults."""

from __future__ import annotations

import json
import math

import conditional_toys
import generative_toys
import numpy as np
import pytest
import toy_plugins

from zsbench.emergence import emergence_step
from zsbench.registry import Registry
from zsbench.run import run_suite
from zsbench.suite import load_suite
from zsbench.testing import ConformanceError, check_plugin

SUITE = """
[suite]
name = "conditional_toy"
seeds = [0]

[dataset]
plugin = "toy_recover"
n_samples = 400
size = 8

[[holdout]]
shape = "ball"
center = { a = 0.5, b = 0.5 }
radius = 0.2

[[transect]]
name = "T"
start = { a = 0.0, b = 0.5 }
end = { a = 1.0, b = 0.5 }
points = 9

[[model]]
plugin = "exact_gen"
label = "exact"

[[model]]
plugin = "jitter_gen"
label = "jitter"

[[model]]
plugin = "blind_gen"
label = "blind"

[[model]]
plugin = "memoriser"
label = "memoriser"

[[model]]
plugin = "learns_hole"
label = "learns"

[[model]]
plugin = "learns_hole"
label = "never"
rim_never = true

[[model]]
plugin = "identity"
label = "autoencoder"

[[metric]]
plugin = "conditional_generation"
samples = 3
max_requests = 64

[[metric]]
plugin = "mse"
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    where = tmp_path_factory.mktemp("conditional")
    registry = Registry(extra=[toy_plugins, generative_toys, conditional_toys])
    (where / "suite.toml").write_text(SUITE)
    suite = load_suite(where / "suite.toml", registry=registry)
    outcome = run_suite(suite, registry=registry, run_dir=where / "run",
                        executor=registry.create("executor", "local", {}))
    return outcome, {r.label: r for r in outcome.results}


def _score(results: dict, label: str, name: str) -> float:
    return results[label].scores[name]["value"]


def test_an_exact_generator_scores_perfectly(run) -> None:
    _, results = run
    for split in ("train", "test", "rim", "hole"):
        assert _score(results, "exact", f"{split}_gen_fail_rate") == 0.0
        assert _score(results, "exact", f"{split}_gen_valid_share") == 1.0
        assert _score(results, "exact", f"{split}_gen_err") < 0.01
        assert _score(results, "exact", f"{split}_diversity") == pytest.approx(0.0, abs=1e-12)
        assert _score(results, "exact", f"{split}_gen_mse") == pytest.approx(0.0, abs=1e-12)
    # a stochastic one spreads its draws, and still draws the family
    assert _score(results, "jitter", "hole_diversity") > 0.005
    assert _score(results, "jitter", "hole_gen_valid_share") == 1.0


def test_a_generator_that_ignores_its_condition_fails_like_chance_everywhere(run) -> None:
    _, results = run
    rates = [_score(results, "blind", f"{s}_gen_fail_rate") for s in ("train", "rim", "hole")]
    assert min(rates) > 0.8  # a random point of the space is rarely within 5 % of the request
    assert max(rates) - min(rates) < 0.15
    assert _score(results, "blind", "hole_gen_valid_share") == 1.0  # valid images, wrong ones


def test_a_memoriser_fails_the_hole_and_not_the_rim(run) -> None:
    _, results = run
    assert _score(results, "memoriser", "hole_gen_fail_rate") > 0.7
    assert _score(results, "memoriser", "rim_gen_fail_rate") < 0.2
    assert _score(results, "memoriser", "hole_rim_gen_err_ratio") > 3.0
    assert _score(results, "memoriser", "hole_gen_mse") > 0.01
    assert _score(results, "memoriser", "rim_gen_mse") == 0.0  # exact renders there
    assert math.isnan(_score(results, "memoriser", "hole_rim_gen_mse_ratio"))  # x / 0


def test_the_step_the_hole_is_learned_is_read_off_the_training_curve(run) -> None:
    outcome, results = run
    learns = results["learns"]
    curve = learns.training["emergence"]["curve"]
    assert [row["step"] for row in curve] == [2, 4, 6, 8, 10]
    assert [row["hole_fail_rate"] for row in curve[:2]] == [1.0, 1.0]
    assert all(row["hole_fail_rate"] == 0.0 for row in curve[2:])
    assert all(row["rim_fail_rate"] == 0.0 and row["rim_valid_share"] == 1.0 for row in curve)
    # every hole point (55 of the 400, fewer than the 64 asked at most) and as many rim points
    assert learns.training["emergence"]["requests"] == {"hole": 55, "rim": 55}
    assert _score(results, "learns", "hole_emergence_step") == 6.0
    assert _score(results, "learns", "control_learned_step") == 2.0
    # a model that fails everywhere is as bad in the hole as on the rim from the start:
    # that is no learned hole
    assert math.isnan(_score(results, "never", "hole_emergence_step"))
    assert math.isnan(_score(results, "never", "control_learned_step"))
    # the curve is in metrics.json
    stored = json.loads((outcome.run_dir / "metrics.json").read_text())["results"]
    assert next(r for r in stored if r["label"] == "learns")["training"]["emergence"]["curve"]


def test_emergence_needs_the_hole_to_stay_learned() -> None:
    def row(step: int, hole: float, rim: float) -> dict:
        return {"step": step, "hole_fail_rate": hole, "rim_fail_rate": rim}

    curve = [row(1, 0.9, 0.1), row(2, 0.1, 0.1), row(3, 0.8, 0.1), row(4, 0.15, 0.1),
             row(5, 0.06, 0.05)]
    assert emergence_step(curve) == (4.0, 1.0)
    assert emergence_step(curve, margin=0.01) == (5.0, 1.0)
    assert all(math.isnan(v) for v in emergence_step([]))
    test_curve = [{"step": r["step"], "hole_fail_rate": r["hole_fail_rate"],
                   "test_fail_rate": r["rim_fail_rate"]} for r in curve]
    assert emergence_step(test_curve, control="test") == (4.0, 1.0)


def test_conditional_scores_do_not_apply_to_an_autoencoder_and_latent_ones_not_to_a_generator(
        run, tmp_path) -> None:
    outcome, results = run
    ae = results["autoencoder"]
    assert "hole_gen_fail_rate" not in ae.scores and "hole_mse" in ae.scores
    assert "generate" in ae.skipped["metric conditional_generation"]
    assert ae.failures == {} and not any("failed" in w for w in ae.warnings)
    exact = results["exact"]
    assert "hole_mse" in exact.scores and exact.failures == {}  # a draw per image
    assert outcome.manifest is not None


def _exact_generator_result(tmp_path, metrics: str):  # noqa: ANN001, ANN202
    """The one job of the exact generator on SUITE's data with the metrics ``metrics``
    (TOML ``[[metric]]`` tables) instead of SUITE's."""
    registry = Registry(extra=[toy_plugins, generative_toys, conditional_toys])
    text = SUITE.split("[[model]]")[0] + '[[model]]\nplugin = "exact_gen"\nlabel = "exact"\n' \
        + metrics
    (tmp_path / "suite.toml").write_text(text)
    suite = load_suite(tmp_path / "suite.toml", registry=registry)
    out = run_suite(suite, registry=registry, run_dir=tmp_path / "run",
                    executor=registry.create("executor", "local", {}))
    (result,) = out.results
    return result


def test_generators_without_encoder_run_latent_metrics_as_skips(tmp_path) -> None:
    result = _exact_generator_result(
        tmp_path, '\n[[metric]]\nplugin = "latent_covariance"\n\n[[metric]]\nplugin = "mse"\n')
    assert result.status == "ok"
    assert "encode" in result.skipped["metric latent_covariance"]
    assert result.failures == {}
    assert "hole_mse" in result.scores


def test_a_skip_is_kept_under_each_instance_of_a_metric(tmp_path) -> None:
    result = _exact_generator_result(
        tmp_path, '\n[[metric]]\nplugin = "latent_covariance"\n'
        '\n[[metric]]\nplugin = "latent_covariance"\nsplit = "test"\n')
    # each instance's own reason, under the name its scores would have had
    assert "encode" in result.skipped["metric latent_covariance-1"]
    assert "encode" in result.skipped["metric latent_covariance-2"]
    assert "metric latent_covariance" not in result.skipped


@pytest.mark.parametrize(("fault", "caught_by"), [
    (conditional_toys.IgnoresSeed, {"check_generate_seeds_differ"}),
    (conditional_toys.IgnoresCondition, {"check_generate_follows_request"}),
    (conditional_toys.DependsOnBatch, {"check_generate_rows_independent"}),
])
def test_the_kit_catches_each_planted_generator_fault(fault, caught_by) -> None:
    failed = set()
    for check in check_plugin(fault()):
        try:
            check()
        except ConformanceError:
            failed.add(check.name)
    assert failed == caught_by


@pytest.mark.parametrize("model", [conditional_toys.ExactGenerator(),
                                   conditional_toys.JitterGenerator(),
                                   conditional_toys.MemoriserGenerator()])
def test_honest_toy_generators_pass_the_kit(model) -> None:
    names = []
    for check in check_plugin(model):
        check()
        names.append(check.name)
    assert "check_generate_rows_independent" in names
    assert "check_encode_shape" not in names  # no encoder: no encoder checks


def test_row_noise_is_per_row_and_seeded() -> None:
    from zsbench.plugin import row_noise

    a = row_noise(3, 5, (2, 2))
    assert a.shape == (5, 2, 2) and a.dtype == np.float32
    assert np.array_equal(row_noise(3, 2, (2, 2)), a[:2])
    assert not np.array_equal(row_noise(4, 5, (2, 2)), a)
    assert not np.array_equal(a[0], a[1])
    assert not np.array_equal(row_noise(3, 5, (2, 2), stream=1), a)


def test_conditional_metric_parameters_are_validated() -> None:
    from zsbench.errors import PluginParameterError
    from zsbench_plugins.metrics.conditional_generation import ConditionalGeneration

    for bad in ({"samples": 0}, {"tolerance": 1.5}, {"max_requests": 0}, {"margin": -1},
                {"splits": []}, {"residual_threshold": -1.0}):
        with pytest.raises(PluginParameterError, match=next(iter(bad))):
            ConditionalGeneration(**bad)
