"""The conditional-generator outputs on toy generators: conditional strips along the
transects, the scatter of draws read back against their requests (and its per-draw table),
the emergence curve; skipped as "n/a" for a plain autoencoder."""

from __future__ import annotations

import csv
import inspect
from pathlib import Path

import conditional_toys
import generative_toys
import numpy as np
import pytest
import toy_plugins
from matplotlib.image import imread
from zsbench_plugins.outputs import (
    ConditionalScatter,
    ConditionalStrips,
    Emergence,
    _plot,
    zsbench_add_outputs,
)
from zsbench_plugins.outputs.emergence import FIG_H, FIG_W

from zsbench.errors import PluginParameterError
from zsbench.plugin import EvalContext, Model
from zsbench.registry import Registry
from zsbench.run import run_suite
from zsbench.suite import load_suite

SAMPLES = 3
MAX_REQUESTS = 24
POINTS = 9

SUITE = f"""
[suite]
name = "conditional_outputs"
seeds = [0]

[dataset]
plugin = "toy_recover"
n_samples = 300
size = 8

[[holdout]]
shape = "ball"
center = {{ a = 0.5, b = 0.5 }}
radius = 0.2

[[transect]]
name = "T"
start = {{ a = 0.0, b = 0.5 }}
end = {{ a = 1.0, b = 0.5 }}
points = {POINTS}

[[model]]
plugin = "exact_gen"
label = "exact"

[[model]]
plugin = "memoriser"
label = "memoriser"

[[model]]
plugin = "learns_hole"
label = "learns"

[[model]]
plugin = "identity"
label = "autoencoder"

[[metric]]
plugin = "conditional_generation"
splits = ["test", "rim", "hole"]
samples = {SAMPLES}
max_requests = {MAX_REQUESTS}

[[output]]
plugin = "conditional_strips"
samples = {SAMPLES}

[[output]]
plugin = "conditional_scatter"
samples = {SAMPLES}
max_requests = {MAX_REQUESTS}

[[output]]
plugin = "emergence"
"""

OURS = ("conditional_strips", "conditional_scatter", "emergence")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    where = tmp_path_factory.mktemp("conditional_outputs")
    registry = Registry(extra=[toy_plugins, generative_toys, conditional_toys])
    (where / "suite.toml").write_text(SUITE)
    suite = load_suite(where / "suite.toml", registry=registry)
    outcome = run_suite(suite, registry=registry, run_dir=where / "run",
                        executor=registry.create("executor", "local", {}))
    return outcome, {r.label: r for r in outcome.results}


def _files(outcome, result) -> dict[str, Path]:
    return {Path(f).name: outcome.run_dir / f for f in result.files}


def _png(path: Path) -> np.ndarray:
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) >= 80
    assert pixels[..., :3].std() > 0.01  # not a blank page
    return pixels


def _table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_generator_gets_the_three_pictures_and_no_failure(run) -> None:
    outcome, results = run
    for label in ("exact", "memoriser", "learns"):
        result = results[label]
        assert result.status == "ok" and result.failures == {}, (label, result.failures)
        assert not any(f"output {o}" in result.skipped for o in OURS), result.skipped
        files = _files(outcome, result)
        assert {"conditional_T.png", "conditional_scatter.png",
                "conditional_requests.csv"} <= set(files)


def test_conditional_strips_frame_the_hole_columns(run) -> None:
    outcome, results = run
    pixels = _png(_files(outcome, results["memoriser"])["conditional_T.png"])
    h, w = pixels.shape[:2]
    # 9 columns of square tiles over 1 + 1 rows (a deterministic generator: one draw)
    assert 2.0 < w / h < 5.0
    # the hole columns are framed in the hole colour
    orange = np.array([int(_plot.HOLE_COLOUR[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    assert (np.abs(pixels[..., :3] - orange).max(axis=-1) < 0.02).sum() > 50


def _generator_context(model: Model) -> EvalContext:
    from zsbench.testing import make_eval_context

    ctx = make_eval_context(n_samples=60, image_size=8)
    train = ctx.splits["train"]
    ctx.model = model.fit(train.images, seed=0, factors=train.factors)
    return ctx


def test_conditional_strips_show_samples_rows_of_draws_per_request(tmp_path: Path) -> None:
    ctx = _generator_context(conditional_toys.JitterGenerator())
    out = ConditionalStrips(samples=2)
    te = ctx.transects[0]
    a = out.draws(ctx, te)
    assert a.shape == (2, len(te.factors), *te.images.shape[1:])
    assert np.array_equal(a, out.draws(ctx, te))  # seeded from the job's seed
    assert not np.array_equal(a[0], a[1])  # fresh noise per draw of a request
    (tmp_path / "two").mkdir()
    (tmp_path / "one").mkdir()
    (two,) = out.write(ctx, tmp_path / "two")
    assert two == tmp_path / "two" / "conditional_T1.png"
    train = ctx.splits["train"]
    ctx.model = conditional_toys.ExactGenerator().fit(train.images, seed=0,
                                                      factors=train.factors)
    (one,) = ConditionalStrips(samples=2).write(ctx, tmp_path / "one")
    tall, short = _png(two), _png(one)
    assert tall.shape[1] == short.shape[1]  # one column per request
    # a deterministic generator gets one row of draws: about a tile's height less
    tile = (tall.shape[1] - 1.45 * _plot.DPI) / len(te.factors)
    assert 0.6 * tile < tall.shape[0] - short.shape[0] < 1.6 * tile


def test_the_scatter_table_has_one_row_per_draw_and_agrees_with_the_metric(run) -> None:
    outcome, results = run
    for label in ("exact", "memoriser"):
        result = results[label]
        files = _files(outcome, result)
        pixels = _png(files["conditional_scatter.png"])
        assert 0.6 < pixels.shape[1] / pixels.shape[0] < 1.2  # one square panel over a legend
        rows = _table(files["conditional_requests.csv"])
        assert list(rows[0]) == ["split", "request", "draw", "requested_a", "requested_b",
                                 "recovered_a", "recovered_b", "residual", "valid", "failed",
                                 "mse"]
        for split in ("hole", "rim", "test"):
            mine = [r for r in rows if r["split"] == split]
            assert len(mine) == SAMPLES * MAX_REQUESTS  # every split has >= 24 points
            assert sorted({int(r["draw"]) for r in mine}) == list(range(SAMPLES))
            fail = np.mean([int(r["failed"]) for r in mine])
            assert fail == pytest.approx(result.scores[f"{split}_gen_fail_rate"]["value"])
            mse = np.mean([float(r["mse"]) for r in mine])
            assert mse == pytest.approx(result.scores[f"{split}_gen_mse"]["value"])
    memo = _table(_files(outcome, results["memoriser"])["conditional_requests.csv"])
    hole = np.mean([int(r["failed"]) for r in memo if r["split"] == "hole"])
    rim = np.mean([int(r["failed"]) for r in memo if r["split"] == "rim"])
    assert hole > 0.6 and rim < 0.2
    exact = _table(_files(outcome, results["exact"])["conditional_requests.csv"])
    assert all(r["failed"] == "0" and r["valid"] == "1" for r in exact)
    assert max(abs(float(r["requested_a"]) - float(r["recovered_a"])) for r in exact) < 0.05


def test_the_emergence_curve_is_drawn_only_for_a_model_that_recorded_one(run) -> None:
    outcome, results = run
    learns = _files(outcome, results["learns"])
    assert "emergence.png" in learns
    pixels = _png(learns["emergence.png"])
    assert pixels.shape[:2] == (round(FIG_H * _plot.DPI), round(FIG_W * _plot.DPI))
    for label in ("exact", "memoriser"):  # no eval_every: no curve, no file
        assert "emergence.png" not in _files(outcome, results[label])
        assert "output emergence" not in results[label].skipped
        assert results[label].failures == {}


def test_an_autoencoder_gets_the_outputs_skipped_not_failed(run) -> None:
    _, results = run
    ae = results["autoencoder"]
    assert ae.status == "ok" and ae.failures == {}
    for name in OURS:
        assert "generate" in ae.skipped[f"output {name}"]
    assert not any(Path(f).name.startswith(("conditional_", "emergence")) for f in ae.files)


def test_emergence_writes_nothing_without_a_curve(tmp_path: Path) -> None:
    from zsbench.testing import make_eval_context

    ctx = make_eval_context(n_samples=60, image_size=8)
    assert Emergence().write(ctx, tmp_path) == []
    ctx.training = {"emergence": {"control": "test", "tolerance": 0.05,
                                  "requests": {"hole": 8, "test": 8},
                                  "curve": [{"step": s, "hole_fail_rate": h,
                                             "hole_valid_share": 1.0, "test_fail_rate": 0.1,
                                             "test_valid_share": 1.0}
                                            for s, h in ((1, 1.0), (2, 0.9), (3, 0.1),
                                                         (4, 0.05))]}}
    (path,) = Emergence().write(ctx, tmp_path)
    assert path == tmp_path / "emergence.png"
    _png(path)
    assert list(tmp_path.iterdir()) == [path]


def test_the_scatter_panels_default_to_the_factors_the_holdout_constrains() -> None:
    from zsbench.regions import Box
    from zsbench.space import Factor, LatentSpace

    space = LatentSpace((Factor("shape", values=(0.0, 1.0, 2.0)), Factor("x"), Factor("y"),
                         Factor("z")))
    out = ConditionalScatter()
    assert out.panels(space, None) == [(1, 2)]
    assert out.panels(space, Box(low={"z": 0.2, "y": 0.2}, high={"z": 0.4, "y": 0.4})) == \
        [(2, 3)]
    assert out.panels(space, Box(low={"z": 0.2}, high={"z": 0.4})) == [(3, 1)]
    assert ConditionalScatter(pairs=[["x", "z"], ["y", "shape"]]).panels(space, None) == \
        [(1, 3), (2, 0)]
    with pytest.raises(PluginParameterError, match="pairs"):
        ConditionalScatter(pairs=[["x", "w"]]).panels(space, None)


@pytest.mark.parametrize(("cls", "bad"), [
    (ConditionalStrips, {"samples": 0}), (ConditionalStrips, {"tolerance": 2.0}),
    (ConditionalScatter, {"samples": 0}), (ConditionalScatter, {"max_requests": 0}),
    (ConditionalScatter, {"splits": []}), (ConditionalScatter, {"pairs": [["a", "a"]]}),
    (ConditionalScatter, {"pairs": [["a"]]}), (ConditionalScatter, {"tolerance": 0.0}),
    (ConditionalScatter, {"residual_threshold": -1.0}),
    (Emergence, {"margin": 1.5}), (Emergence, {"rim_ceiling": 0.0}),
])
def test_parameters_are_validated(cls, bad) -> None:
    with pytest.raises(PluginParameterError, match=next(iter(bad))):
        cls(**bad)


def test_the_outputs_follow_the_plugin_contract() -> None:

    classes = zsbench_add_outputs()
    for cls in (ConditionalStrips, ConditionalScatter, Emergence):
        assert cls in classes
        assert "model.generate" in cls.requires
        assert cls.summary() and not cls.summary().endswith(":")
        obj = cls()
        for name, p in cls.parameters().items():
            assert p.kind is inspect.Parameter.KEYWORD_ONLY
            assert p.annotation is not inspect.Parameter.empty, (cls.name, name)
            assert getattr(obj, name) == p.default
    assert "dataset.recover" in ConditionalScatter.requires
    # the metric's defaults, so that the output shares the metric's draws
    from zsbench_plugins.metrics.conditional_generation import ConditionalGeneration

    metric = ConditionalGeneration()
    for key in ("samples", "max_requests", "tolerance", "residual_threshold"):
        assert getattr(ConditionalScatter(), key) == getattr(metric, key)

