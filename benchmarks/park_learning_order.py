"""Park et al. 2024's learning_times from a variants run of suites/park2024_col_sweep.toml:
one point per variant and seed, the step the held-out class emerged (plainly, and
over-prompted) and the step the seen classes were learned, against the colour separation.

Usage: python benchmarks/park_learning_order.py RUN_DIR [AXIS]   (AXIS default: sep_col)
Writes RUN_DIR/learning_order.png and RUN_DIR/learning_order.csv and prints the table.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from zsbench.results import load_results
from zsbench_plugins.outputs.learning_order import (
    CONTROL_STEP,
    STEP_SCORES,
    draw_learning_order,
    learning_order_rows,
)


def main() -> None:
    run_dir = Path(sys.argv[1])
    axis = sys.argv[2] if len(sys.argv) > 2 else "sep_col"
    index = json.loads((run_dir / "variants.json").read_text())
    variants = index["variants"]
    results = {v["name"]: load_results(run_dir / v["run"])[1] for v in variants}
    scores = [*STEP_SCORES[:1], *sorted({s for rs in results.values() for r in rs
                                         for s in r.scores
                                         if s.startswith("hole_") and s.endswith(
                                             "_emergence_step") and s != STEP_SCORES[0]})]
    scores.append(CONTROL_STEP)
    rows = learning_order_rows(variants, results, axis=axis, scores=scores)
    steps = max((float(r.training.get("steps", 0) or 0) for rs in results.values()
                 for r in rs), default=0.0) or None
    draw_learning_order(rows, run_dir / "learning_order.png", axis=axis, steps_run=steps,
                        scores=scores)
    with (run_dir / "learning_order.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["variant", axis, "model", "seed", *scores])
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        print(", ".join(f"{k}={v}" for k, v in r.items()))
    print(f"wrote {run_dir / 'learning_order.png'} and {run_dir / 'learning_order.csv'}")


if __name__ == "__main__":
    main()
