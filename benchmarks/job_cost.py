"""What one conditional generator's job costs beyond its training and the draws it is asked for.

Runs one job of a suite (after a profile, with the model's and metrics' parameters
overridden from the command line) exactly as ``zsbench run`` does (``runner.run_job``, with
a run folder so the outputs are written too) on one torch thread, and times every
``generate`` call made after training: the draws the metrics, outputs and the evaluation
ask for. Prints the job's stages (``metrics.json`` timings) and

    overhead = total / (training + draws after training)

which the issue asks to keep within 1.3: the rest (the seed check, recovery of the draws,
scoring, pictures) should cost little next to the sampler. The rows drawn are counted by
what asked for them (every split read whole or in part, the metrics' own requests).

    nice -n 10 .venv/bin/python benchmarks/job_cost.py suites/circles_colour_size.toml \\
        --profile quick --model diffusion_flow --set epochs=3
    # before the evaluation drew only what metrics read: every training image drawn
    ... --metric-set holdout_reconstruction.max_draws=None
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from learning_curve import chosen_model, literal, model_parser

from zsbench.jobs import Job
from zsbench.runner import prepare_data, run_job


def main() -> None:
    p = model_parser(__doc__)
    p.add_argument("--metric-set", action="append", default=[],
                   help="METRIC_PLUGIN.PARAM=VALUE (python literal)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    registry, suite, spec, params = chosen_model(args)
    metrics = []
    for m in suite.metrics:
        extra = {}
        for item in args.metric_set:
            key, value = item.split("=", 1)
            plugin, name = key.split(".", 1)
            if plugin == m.plugin:
                extra[name] = literal(value)
        metrics.append(dataclasses.replace(m, params={**m.params, **extra}))
    suite = dataclasses.replace(suite, metrics=metrics)
    data = prepare_data(suite, registry)

    cls = registry.get("model", spec.plugin).cls
    original = cls.generate
    fitted = {"done": False}
    drawn = {"s": 0.0, "rows": 0}
    original_fit = cls.fit

    def fit(self: Any, *a: Any, **k: Any) -> Any:  # noqa: ANN401
        out = original_fit(self, *a, **k)
        fitted["done"] = True
        return out

    def generate(self: Any, factors: np.ndarray, **k: Any) -> Any:  # noqa: ANN401
        t0 = time.perf_counter()
        out = original(self, factors, **k)
        if fitted["done"]:
            drawn["s"] += time.perf_counter() - t0
            drawn["rows"] += len(factors)
        return out

    cls.fit, cls.generate = fit, generate
    job = Job(label=spec.label, plugin=spec.plugin, params=params, weighting=None,
              seed=args.seed)
    c0 = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        result = run_job(job, data, suite, registry, Path(tmp))
    t = result.timings
    row = {"status": result.status, "n_train": len(data.splits["train"]),
           **{k: round(v, 2) for k, v in t.items()},
           "draws_after_training_s": round(drawn["s"], 2), "rows_drawn": drawn["rows"],
           "overhead": round(t["total_s"] / (t["train_s"] + drawn["s"]), 3),
           "cpu_s": round(time.process_time() - c0, 1)}
    print(json.dumps(row))


if __name__ == "__main__":
    main()
