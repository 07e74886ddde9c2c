"""Run folders without training: results made up with a real suite's leaderboard columns
(for the terminal leaderboard and the site), written as ``zsbench run`` writes them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from zsbench.jobs import JobResult
from zsbench.results import write_json, write_results
from zsbench.suite import tomllib

REPO = Path(__file__).resolve().parents[1]
POLAR_HOLE = REPO / "suites" / "polar_hole.toml"

METRIC = {"hole_rim_factor_err_ratio": "factor_recovery", "hole_factor_err": "factor_recovery",
          "hole_fail_rate": "factor_recovery", "rim_fail_rate": "factor_recovery",
          "hole_valid_share": "factor_recovery",
          "hole_rim_excess_ratio": "holdout_reconstruction",
          "hole_excess_bce": "holdout_reconstruction",
          "test_peak_err": "holdout_reconstruction", "active_units": "latent_covariance",
          "mean_abs_corr": "latent_covariance"}
"""polar_hole's leaderboard columns, the scores behind their controls and valid shares,
and the metric of each."""

VALID = {"vae-fixed-sigma": 0.97, "vae-fixed-sigma-small-b": 0.93, "vae": 0.02, "ae": 0.88}
"""Each polar_hole model's share of valid hole reconstructions: the ``vae`` collapsed."""


def _score(name: str, value: float, half: float) -> dict[str, Any]:
    s = {"value": value, "lo": value - half, "hi": value + half, "interval": "bootstrap",
         "metric": METRIC[name], "higher_is_better": name in ("active_units", "hole_valid_share"),
         "headline": True}
    if name.endswith("_ratio"):
        s["target"] = 1.0
        s["control"] = ["rim_fail_rate", 0.5]
    return s


def polar_hole_results(seeds: tuple[int, ...] = (0, 1, 2), *, offset: float = 0.0
                       ) -> list[JobResult]:
    """Made-up results of polar_hole's models (its labels) for its leaderboard's scores:
    realistic sizes and intervals, the ``vae`` with 2 % valid hole images and its hole
    factor error about the fixed-sigma VAEs' (0.047)."""
    rng = np.random.default_rng(0)
    labels = [m["label"] for m in tomllib.loads(POLAR_HOLE.read_text())["model"]]
    out = []
    for label in labels:
        for seed in seeds:
            values = {name: float(rng.uniform(0.02, 1.6)) + offset for name in METRIC}
            values["hole_valid_share"] = VALID.get(label, 0.9)
            values["hole_factor_err"] = 0.047 + 0.002 * seed + offset
            values["active_units"] = 3.0
            values["rim_fail_rate"] = 0.9 if label == "vae" else 0.1
            scores = {n: _score(n, v, 0.04 * abs(v) + 1e-3) for n, v in values.items()}
            out.append(JobResult(label=label, plugin=label.split("-")[0], seed=seed,
                                 status="ok", scores=scores))
    return out


def write_fake_run(run_dir: Path, results: list[JobResult], *, suite: Path = POLAR_HOLE,
                   name: str | None = None, config_hash: str = "0" * 64,
                   created: str = "2026-01-05T10:00:00") -> Path:
    """A run folder of ``results`` as ``zsbench run`` leaves it (suite.toml, manifest,
    metrics, leaderboards), with the suite's ``[leaderboard]``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(suite, run_dir / "suite.toml")
    table = tomllib.loads(suite.read_text())
    board = table.get("leaderboard", {})
    write_results(run_dir, results, board.get("columns"), board.get("sort"))
    write_json(run_dir / "manifest.json", {
        "zsbench_version": "0.1.0", "state": "finished", "created": created,
        "suite": {"name": name or table["suite"]["name"], "path": str(suite), "profile": None,
                  "config_hash": config_hash},
        "seeds": sorted({r.seed for r in results}),
        "jobs": [{"label": r.label, "seed": r.seed, "status": r.status} for r in results]})
    return run_dir
