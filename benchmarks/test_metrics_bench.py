"""The full metric evaluation: every standard metric on the 5000 points of polar_hole
(synthetic latents and reconstructions; see conftest.py). Run with::

    pytest benchmarks/test_metrics_bench.py --benchmark-only
"""

from __future__ import annotations

from typing import Any

import pytest

STANDARD_METRICS = ["holdout_reconstruction", "transect", "latent_covariance", "probe",
                    "frobenius", "mig", "dci", "sap"]


def test_standard_metrics_are_all_benchmarked(registry) -> None:  # noqa: ANN001
    own = {p.name for p in registry.all() if p.kind == "metric" and p.distribution == "zsbench"}
    assert own == set(STANDARD_METRICS), "add the new metric to STANDARD_METRICS"


@pytest.mark.benchmark(group="metrics-5000")
def test_all_metrics_5000(benchmark: Any, registry, eval_context) -> None:  # noqa: ANN001
    """Everything a run computes per trained model after encoding: all standard metrics."""
    metrics = [registry.create("metric", name, {}) for name in STANDARD_METRICS]

    def evaluate() -> dict:
        scores = {}
        for m in metrics:
            scores.update(m.compute(eval_context))
        return scores

    scores = benchmark.pedantic(evaluate, rounds=5, iterations=1, warmup_rounds=1)
    assert {"hole_bce", "transect_in_bce", "mean_abs_offdiag_cov", "frob_mean"} <= set(scores)
    benchmark.extra_info["scores"] = len(scores)


@pytest.mark.benchmark(group="metrics-5000")
@pytest.mark.parametrize("name", STANDARD_METRICS)
def test_metric_5000(benchmark: Any, registry, eval_context, name: str) -> None:  # noqa: ANN001
    """Each standard metric alone, to see which one a slowdown comes from."""
    metric = registry.create("metric", name, {})
    scores = benchmark.pedantic(metric.compute, args=(eval_context,), rounds=5, iterations=1,
                                warmup_rounds=1)
    assert scores
