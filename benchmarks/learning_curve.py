"""A conditional generator's learning curve on a suite's data, with its CPU cost.

Trains one model of a suite (after a profile, with parameters overridden from the command
line) on one torch thread, asks the emergence monitor (zsbench.emergence) every
``--eval-every`` steps for the hole and control fail rates, and records beside each row the
process CPU seconds spent so far (``time.process_time``: far less sensitive to other load
on the machine than wall time) and the wall seconds. Each row is appended to ``--out`` as it
is measured (JSON lines), so a curve cut short still says what it reached; the suite's
over-prompted requests (over_prompting) are asked too, and each evaluation's recovered
factors go to OUT.found.jsonl (the concept-space paths).

    nice -n 10 .venv/bin/python benchmarks/learning_curve.py suites/circles_colour_size.toml \\
        --model diffusion_flow --set epochs=100 --eval-every 250 --max-cpu-s 1800 \\
        --out results/curves/circles_flow.jsonl

The CPU seconds of the monitor's own draws are counted apart (``monitor_cpu_s``): a suite
asks for them at its own ``eval_every``, so the training cost per step is
``(cpu_s - monitor_cpu_s) / step``.
"""

from __future__ import annotations

import argparse
import ast
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from zsbench.emergence import EmergenceMonitor, emergence_step
from zsbench.registry import Registry
from zsbench.runner import prepare_data
from zsbench.suite import load_suite
from zsbench.variants import write_variants


class OutOfBudget(Exception):
    """Raised from the monitor to stop training once ``--max-cpu-s`` is spent."""


def literal(text: str) -> Any:
    """A command-line value as the python literal it spells, else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def model_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments that pick one model of a suite: SUITE, --profile, --model, --set."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("suite")
    p.add_argument("--profile", default=None)
    p.add_argument("--model", required=True, help="the model's label in the suite")
    p.add_argument("--variant", default=None,
                   help="a [variants.NAME] of the suite, laid over it as a run would")
    p.add_argument("--set", action="append", default=[], help="PARAM=VALUE (python literal)")
    return p


def chosen_model(args: argparse.Namespace) -> tuple[Registry, Any, Any, dict[str, Any]]:
    """``(registry, suite, spec, params)`` of the model ``model_parser``'s arguments pick:
    the suite after ``--variant`` and ``--profile``, the model's spec, its parameters with
    ``--set`` applied and the progress bar off; torch on one thread."""
    torch.set_num_threads(1)
    registry = Registry()
    suite = load_suite(args.suite, profile=args.profile, registry=registry)
    if args.variant is not None:  # written as a run writes it, into a scratch folder
        with tempfile.TemporaryDirectory(prefix="zsbench-variant-") as scratch:
            suite = write_variants(suite, Path(scratch), registry=registry,
                                   only=[args.variant])[0].suite
    spec = next(m for m in suite.models if m.label == args.model)
    params = {**spec.params, **{k: literal(v) for k, v in
                                (s.split("=", 1) for s in args.set)}, "progress": False}
    return registry, suite, spec, params


def main() -> None:
    p = model_parser(__doc__)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--max-cpu-s", type=float, default=1800.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    registry, suite, spec, params = chosen_model(args)
    params["eval_every"] = args.eval_every
    data = prepare_data(suite, registry)
    model = registry.create("model", spec.plugin, params)
    monitor = EmergenceMonitor.for_splits(data.dataset, data.splits, seed=args.seed,
                                          judging=data.judging)
    assert monitor is not None, "the suite's data has no hole and control to monitor"
    monitor.prompts = dict(data.prompts)  # the suite's over_prompting requests, as a run
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("")
    out.with_suffix(".found.jsonl").write_text("")
    c0, w0 = time.process_time(), time.perf_counter()
    spent = {"monitor": 0.0}

    def watch(step: int, m: Any) -> None:
        m0 = time.process_time()
        monitor(step, m)
        spent["monitor"] += time.process_time() - m0
        row = {**monitor.curve[-1], "cpu_s": time.process_time() - c0,
               "monitor_cpu_s": spent["monitor"], "wall_s": time.perf_counter() - w0}
        row["train_cpu_ms_per_step"] = 1e3 * (row["cpu_s"] - row["monitor_cpu_s"]) / step
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        with out.with_suffix(".found.jsonl").open("a") as f:  # for concept_paths
            f.write(json.dumps(monitor.found[-1]) + "\n")
        print(json.dumps(row), flush=True)
        if row["cpu_s"] > args.max_cpu_s:
            raise OutOfBudget

    header = {"suite": suite.name, "profile": args.profile, "model": args.model,
              "plugin": spec.plugin, "params": {k: str(v) for k, v in params.items()},
              "n_train": len(data.splits["train"]), "control": monitor.record()["control"]}
    print(json.dumps(header), flush=True)
    train = data.splits["train"]
    try:
        model.fit(train.images, seed=args.seed, factors=train.factors,
                  space=data.dataset.space, monitor=watch)
    except OutOfBudget:
        pass
    hole, control = emergence_step(monitor.curve, control=header["control"])
    record = monitor.record()
    summary = {**header, "hole_emergence_step": hole, "control_learned_step": control,
               "prompts": record["prompts"], "request_factors": record["request_factors"],
               "cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - w0}
    with out.with_suffix(".summary.json").open("w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
