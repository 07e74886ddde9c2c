"""A third party's conditional generator, misbehaving one fault at a time, run through
``zsbench run``: every fault the conformance kit catches is caught by the run too (a failed
job, exit 3, a message naming the model and the fix), and the faulty model is never marked
best.

The generator lives in a temporary distribution (a module and a ``.dist-info`` folder with
its entry point, on ``sys.path`` for the test only; nothing is installed into the
environment), found by the registry as pip would leave it. The run uses the ``local``
executor and the toy dataset that can ``recover`` (``tests/generative_toys.py``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from zsbench.cli import main

MODULE = "zsbench_thirdparty_flow"
SOURCE = '''
"""A third party's conditional generator (nearest training image by factors) with planted
faults, and two metrics that misbehave."""
import json
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from zsbench import EvalContext, Metric, Model, Score, hookimpl


class ThirdPartyFlow(Model):
    """Nearest training image by factors, with a planted fault."""

    name = "thirdparty_flow"
    stochastic: ClassVar[bool] = False

    def __init__(self, *, fault: Literal["none", "global_rng", "bytes", "no_channel", "nan",
                                         "late_bytes"] = "none", eval_every: int = 0) -> None:
        self.fault = fault
        self.eval_every = eval_every

    def fit(self, images, *, seed, weights=None, validation=None, factors=None,
            monitor=None):
        self.images_ = np.asarray(images, dtype=np.float32).copy()
        self.factors_ = np.asarray(factors, dtype=np.float64).copy()
        if monitor is not None and self.eval_every:
            for step in range(self.eval_every, 3 * self.eval_every + 1, self.eval_every):
                monitor(step, self)
        return self

    def generate(self, factors, *, seed):
        f = np.asarray(factors, dtype=np.float64)
        d = ((f[:, None, :] - self.factors_[None]) ** 2).sum(-1)
        out = self.images_[d.argmin(1)].copy()
        if self.fault == "global_rng":
            out = np.clip(out + np.random.uniform(0, 0.01, out.shape), 0, 1)
        elif self.fault == "bytes" or (self.fault == "late_bytes" and len(f) > 4):
            out = out * 255.0
        elif self.fault == "no_channel":
            out = out[:, 0]
        elif self.fault == "nan":
            out[::3] = np.nan
        return out.astype(np.float32)

    def save(self, path):
        np.savez(Path(path).with_suffix(".npz"), images=self.images_, factors=self.factors_)
        Path(path).write_text(json.dumps(self.get_params()))

    @classmethod
    def load(cls, path):
        m = cls(**json.loads(Path(path).read_text()))
        data = np.load(Path(path).with_suffix(".npz"))
        m.images_, m.factors_ = data["images"], data["factors"]
        return m


class InfiniteMetric(Metric):
    """A score that is infinite for the model labelled "diverged"."""

    name = "thirdparty_infinite"

    def compute(self, ctx: EvalContext):
        value = float("inf") if ctx.label == "diverged" else 1.0
        return {"thirdparty_score": Score(value, higher_is_better=False, headline=True)}


class BrokenMetric(Metric):
    """Always raises."""

    name = "thirdparty_broken"

    def compute(self, ctx: EvalContext):
        raise RuntimeError("planted metric failure")


@hookimpl
def zsbench_add_models():
    return [ThirdPartyFlow]


@hookimpl
def zsbench_add_metrics():
    return [InfiniteMetric, BrokenMetric]
'''

SUITE = """
[suite]
name = "thirdparty"
seeds = [0]

[dataset]
plugin = "toy_recover"
n_samples = 160
grid = 41

[[holdout]]
shape = "ball"
center = { a = 0.5, b = 0.5 }
radius = 0.2

[[model]]
plugin = "thirdparty_flow"
label = "honest"

[[model]]
plugin = "thirdparty_flow"
label = "faulty"
fault = "FAULT"
eval_every = EVAL_EVERY

[[metric]]
plugin = "conditional_generation"
samples = 1
max_requests = 16

[leaderboard]
columns = ["hole_gen_mse", "hole_gen_fail_rate"]
"""


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The temporary distribution ``zsbench-thirdparty-flow`` on ``sys.path``."""
    site = tmp_path / "site-packages"
    info = site / "zsbench_thirdparty_flow-0.1.dist-info"
    info.mkdir(parents=True)
    (site / f"{MODULE}.py").write_text(SOURCE)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zsbench-thirdparty-flow\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(f"[zsbench]\nthirdparty = {MODULE}\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("ZSBENCH_PLUGINS", "generative_toys")
    monkeypatch.setenv("ZSBENCH_CACHE_DIR", str(tmp_path / "cache"))
    yield tmp_path
    sys.modules.pop(MODULE, None)


def _run(where: Path, capsys: pytest.CaptureFixture[str], suite: str,
         *extra: str) -> tuple[int, str, str, str]:
    path = where / "suite.toml"
    path.write_text(suite)
    rc = main(["run", str(path), "--executor", "local", "--no-outputs", "--out",
               str(where / "run"), *extra])
    captured = capsys.readouterr()
    assert (where / "run" / "leaderboard.md").is_file(), (rc, captured.err)
    board = (where / "run" / "leaderboard.md").read_text(encoding="utf-8")
    return rc, captured.out, captured.err, board


def _row(board: str, label: str) -> str:
    return next(line for line in board.splitlines() if line.startswith(f"| {label} "))


FAULTS = [
    # fault, eval_every, what the message must say
    ("global_rng", 0, ["check_generate_same_seed_same_images", "gave different images",
                       "global random state"]),
    ("bytes", 0, ["returned values in [0, 25", "divide by 255", "not clipped"]),
    ("no_channel", 3, ["emergence monitor", "returned shape [21, 8, 8]", "channel axis",
                       "not the dataset's"]),
    ("no_channel", 0, ['evaluating: model "faulty": generate (asked twice',
                       "returned shape [4, 8, 8]", "channel axis"]),
    ("nan", 0, ["NaN or infinite values", "inside `generate`"]),
    # right on the run's first few requests, wrong on the metric's: still the job fails
    ("late_bytes", 0, ["evaluating: metric conditional_generation: ", "requests returned "
                       "values in [0, 25", "divide by 255"]),
]


@pytest.mark.parametrize(("fault", "eval_every", "needles"), FAULTS,
                         ids=[f"{f}-eval{e}" for f, e, _ in FAULTS])
def test_a_faulty_generator_fails_its_job_and_is_never_best(
        fault: str, eval_every: int, needles: list[str], planted: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    suite = SUITE.replace("FAULT", fault).replace("EVAL_EVERY", str(eval_every))
    rc, out, err, board = _run(planted, capsys, suite)
    assert rc == 3, err
    assert "Traceback" not in out + err
    text = err + board
    assert 'model "faulty": ' in text and "Fix:" in text, text
    for needle in needles:
        assert needle in text, (needle, text)
    assert "**" not in _row(board, "faulty")
    assert "failed" in _row(board, "faulty")
    assert re.search(r"\| honest +\| 1/1 +\| \**\d", board)  # the honest one is scored
    assert re.search(r"1 job\(s\) failed.*-v prints them", err), err


def test_minus_v_prints_the_failed_jobs_traceback(planted: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    suite = SUITE.replace("FAULT", "bytes").replace("EVAL_EVERY", "0")
    rc, _, err, _ = _run(planted, capsys, suite, "-v")
    assert rc == 3
    assert "--- faulty (seed 0) failed: evaluating:" in err
    assert "Traceback (most recent call last)" in err and "DrawError" in err


def test_an_infinite_score_fails_the_job(planted: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    suite = (SUITE.replace("FAULT", "none").replace("EVAL_EVERY", "0")
             .replace('label = "faulty"', 'label = "diverged"')
             + '\n[[metric]]\nplugin = "thirdparty_infinite"\n')
    suite = suite.replace('columns = ["hole_gen_mse", "hole_gen_fail_rate"]',
                          'columns = ["thirdparty_score"]')
    rc, out, err, board = _run(planted, capsys, suite)
    assert rc == 3, err
    assert "scoring: 1 score(s) are infinite (thirdparty_score)" in _row(board, "diverged")
    assert "**" not in _row(board, "diverged")


def test_a_job_whose_metrics_all_failed_is_failed(planted: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    suite = SUITE.replace("FAULT", "none").replace("EVAL_EVERY", "0")
    suite = suite.replace('plugin = "conditional_generation"\nsamples = 1\nmax_requests = 16',
                          'plugin = "thirdparty_broken"')
    suite = suite.replace('columns = ["hole_gen_mse", "hole_gen_fail_rate"]\n', "")
    rc, out, err, board = _run(planted, capsys, suite)
    assert rc == 3, err
    row = _row(board, "honest")
    assert ("failed: scoring: no score: 1 of 1 metric(s) failed, the first metric "
            "thirdparty_broken: RuntimeError: planted metric failure") in row, board


def test_the_honest_generator_runs_clean(planted: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    suite = SUITE.replace("FAULT", "none").replace("EVAL_EVERY", "2")
    rc, out, err, board = _run(planted, capsys, suite)
    assert rc == 0, err
    assert _row(board, "faulty").rstrip(" |").endswith("ok")  # "faulty" holds no fault here
