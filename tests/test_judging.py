"""One owner of judging: the suite's [judging] rule, validity that a faint or doubled image
cannot pass, the Liang suites' judging in pixels, honest MSE and failure by depth."""

from __future__ import annotations

import csv
import json
import sys
import tomllib
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from zsbench import hookimpl
from zsbench.errors import SuiteError
from zsbench.judging import Judging, JudgingError, depth_profile, parse_judging
from zsbench.plugin import EvalContext, Model, Monitor, Split, to_float
from zsbench.recovery import context_validity_threshold, judge_draws
from zsbench.space import LatentSpace

ROOT = Path(__file__).resolve().parents[1]


# -- validity: the fooling images of issue 30, per dataset --------------------------------

def _fooling(ds: object, f: np.ndarray, one: np.ndarray, eight: np.ndarray) -> dict:
    """The exact render of ``f``, the exact render 1 px off, and the images that must not
    pass: 60 % strength, + a 40 % copy 8 px away, blank, uniform grey, two full shapes,
    inverted."""
    x = to_float(ds.render(f[None]))
    bg = float(ds.background)
    second = to_float(ds.render((f + eight)[None]))
    return {"exact": x, "one_px_off": to_float(ds.render((f + one)[None])),
            "faint": bg + 0.6 * (x - bg), "plus_faint": x + 0.4 * (second - bg),
            "blank": np.full_like(x, bg), "grey": np.full_like(x, 0.5),
            "two": np.clip(x + (second - bg), 0.0, 1.0), "inverted": 1.0 - x}


def _datasets() -> dict[str, tuple]:
    from zsbench_plugins.datasets.bumps import BumpsDataset
    from zsbench_plugins.datasets.circles import CirclesDataset
    from zsbench_plugins.datasets.polar import PolarDataset
    from zsbench_plugins.datasets.sprites import SpritesDataset

    px_polar = 8.4 / 64  # one pixel of the polar frame, in curve units
    return {
        "bumps": (BumpsDataset(n_samples=200), [10.0, 12.0], [1.0, 0.0], [8.0, 0.0]),
        # 0.5 frame units = 7.75 px at 32x32, 0.1 = 1.55 px: centres 7.9 px apart
        "circles": (CirclesDataset(n_per_class=50), [-0.25, -0.05, 0.25, 0.0],
                    [2.0 / 31.0, 0.0, 0.0, 0.0], [0.5, 0.1, 0.0, 0.0]),
        "polar": (PolarDataset(n_samples=200), [0.8, 0.5], [px_polar, 0.0],
                  [8 * px_polar, 0.0]),
        "sprites": (SpritesDataset(n_samples=300), [0.0, 0.75, 0.3, 0.3, 0.5],
                    [0.0, 0.0, 0.0, 1.0 / 32.0, 0.0], [0.0, 0.0, 0.0, 0.25, 0.0]),
    }


@pytest.mark.parametrize("name", ["bumps", "circles", "polar", "sprites"])
def test_a_faint_doubled_blank_grey_or_inverted_image_is_never_valid(name: str) -> None:
    ds, f, one, eight = _datasets()[name]
    f, one, eight = (np.asarray(v, dtype=np.float64) for v in (f, one, eight))
    train = ds.render(ds.factors(seed=0)[:200])
    cases = _fooling(ds, f, one, eight)
    images = np.concatenate(list(cases.values())).astype(np.float32)
    requests = np.repeat(f[None], len(images), axis=0)
    judged = judge_draws(ds, requests, images, threshold=ds.validity_threshold(train),
                         judging=Judging())
    valid = dict(zip(cases, judged["valid"]))
    assert valid.pop("exact") and valid.pop("one_px_off"), name
    assert not any(valid.values()), {k: v for k, v in valid.items() if v}
    assert judged["amplitude"][0] == pytest.approx(1.0, abs=1e-3)
    # the faint image fails on its contrast or its local residual, not by accident
    faint = list(cases).index("faint")
    assert abs(judged["amplitude"][faint] - 1.0) > 0.2 or judged["local"][faint] > 0.15


@pytest.mark.parametrize("name", ["sprites", "circles"])
def test_local_blur_passes_a_softer_edge_and_nothing_else(name: str) -> None:
    """``local_blur = 1``: the exact sprite blurred by one pixel is the same sprite (invalid
    without it: its antialiased edge is a pixel wide), while every fooling image of the test
    above stays invalid. (Not for the bumps: blurred, a second bump of 40 % falls under the
    bar, so their suites keep ``local_blur = 0``.)"""
    from scipy.ndimage import gaussian_filter

    ds, f, one, eight = _datasets()[name]
    f, one, eight = (np.asarray(v, dtype=np.float64) for v in (f, one, eight))
    train = ds.render(ds.factors(seed=0)[:200])
    cases = _fooling(ds, f, one, eight)
    bg = float(ds.background)
    cases["soft"] = bg + gaussian_filter(cases["exact"] - bg, (0, 0, 1.0, 1.0), mode="constant")
    images = np.concatenate(list(cases.values())).astype(np.float32)
    requests = np.repeat(f[None], len(images), axis=0)
    bar = ds.validity_threshold(train)
    judged = {b: dict(zip(cases, judge_draws(ds, requests, images, threshold=bar,
                                             judging=Judging(local_blur=b))["valid"]))
              for b in (0.0, 1.0)}
    blurred = judged[1.0]
    assert blurred.pop("exact") and blurred.pop("one_px_off") and blurred.pop("soft"), name
    assert not any(blurred.values()), {k: v for k, v in blurred.items() if v}
    if name == "sprites":  # a binary shape: the soft edge alone fails the unblurred check
        assert not judged[0.0]["soft"]


def test_the_sprites_suites_judge_after_a_one_pixel_blur() -> None:
    from zsbench.suite import load_suite

    for path in sorted((ROOT / "suites").glob("sprites_*.toml")):
        judging = load_suite(path).judging
        assert judging.local_blur == 1.0 and judging.local_residual == 0.15, path.name
        assert "1 px blur" in judging.describe()


def test_the_old_rule_let_the_faint_and_doubled_bumps_through() -> None:
    """Without the contrast and local checks (amplitude = false, local_residual = false),
    the residual bar alone accepts a 60 % bump and a bump with a 40 % second one."""
    ds, f, one, eight = _datasets()["bumps"]
    f = np.asarray(f)
    cases = _fooling(ds, f, np.asarray(one), np.asarray(eight))
    images = np.concatenate([cases["faint"], cases["plus_faint"]]).astype(np.float32)
    lenient = parse_judging({"amplitude": False, "local_residual": False}, ds.space.names)
    bar = ds.validity_threshold(ds.render(ds.factors(seed=0)))
    requests = np.repeat(f[None], 2, axis=0)
    assert judge_draws(ds, requests, images, threshold=bar, judging=lenient)["valid"].all()
    assert not judge_draws(ds, requests, images, threshold=bar, judging=Judging())["valid"].any()


def test_judge_draws_never_clips() -> None:
    """A draw outside [0, 1] is judged as drawn (its MSE is the draw's own)."""
    ds, f, _, _ = _datasets()["bumps"]
    x = to_float(ds.render(np.asarray([f])))
    over = np.where(x < 0.5, x - 0.2, x)  # a bump deeper than black
    judged = judge_draws(ds, np.asarray([f]), over, threshold=0.03, judging=Judging())
    assert judged["amplitude"][0] > 1.1


# -- the [judging] table --------------------------------------------------------------------

def test_judging_parses_units_norms_and_per_factor_tolerances() -> None:
    names = ["x", "y"]
    spans, res = np.array([27.0, 27.0]), np.array([1.0, 1.0])
    assert np.allclose(Judging().factor_tolerance(names, spans, res), 0.05 * 27)
    j = parse_judging({"tolerance": {"resolution": 0.5}, "norm": "euclidean"}, names)
    tol = j.factor_tolerance(names, spans, res)
    assert np.allclose(tol, 0.5)
    # 0.4 px along both axes: 0.57 px in the plane, out under euclidean, in under max
    err = np.array([[0.4, 0.4], [0.3, 0.3], [1.0, 0.0]])
    assert j.failed(err, tol).tolist() == [True, False, True]
    assert parse_judging({"tolerance": {"units": 0.5}}, names).failed(err, tol).tolist() == \
        [False, False, True]
    per = parse_judging({"tolerance": {"x": {"units": 2.0}, "y": 0.1}}, names)
    assert np.allclose(per.factor_tolerance(names, spans, res), [2.0, 2.7])
    assert "0.5" in j.describe(names, tol) and "euclidean" in j.describe(names, tol)


@pytest.mark.parametrize("table, needle", [
    ({"tolerence": 0.1}, "tolerance"),
    ({"tolerance": {"pixels": 0.5}}, "unknown unit"),
    ({"tolerance": {"z": 0.1}}, "no such factor"),
    ({"tolerance": 1.5}, "share"),
    ({"norm": "l1"}, "euclidean"),
    ({"amplitude": -0.1}, "amplitude"),
    ({"local_blur": -1}, "local_blur"),
    ({"local_blur": "1px"}, "pixels"),
])
def test_a_bad_judging_table_names_the_key_and_the_fix(table: dict, needle: str) -> None:
    with pytest.raises(JudgingError) as info:
        parse_judging(table, ["x", "y"])
    assert needle in str(info.value) and "[judging]" in str(info.value)


def test_resolution_units_need_a_dataset_that_states_one() -> None:
    j = parse_judging({"tolerance": {"resolution": 0.5}}, ["a"])
    with pytest.raises(JudgingError, match="resolution"):
        j.factor_tolerance(["a"], np.array([1.0]), np.array([np.nan]))


# -- one rule everywhere: metric items, emergence, the per-draw table, the strips ----------

class OffsetBumps(Model):
    """Draws each requested bump a fixed 0 to 1.6 px to the right (by request, whatever the
    seed), and calls the monitor once at the end of its fit."""

    name = "offset_bumps"
    stochastic: ClassVar[bool] = False

    def __init__(self) -> None:
        pass

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None, factors: np.ndarray | None = None,
            space: LatentSpace | None = None, monitor: Monitor | None = None) -> Model:
        from zsbench_plugins.datasets.bumps import BumpsDataset

        self.ds_ = BumpsDataset(image_size=int(images.shape[-1]))
        if monitor is not None:
            monitor(1, self)
        return self

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        f = np.asarray(factors, dtype=np.float64).copy()
        f[:, 0] = np.clip(f[:, 0] + 0.4 * ((7 * f[:, 0] + 3 * f[:, 1]) % 5), *self.ds_.bounds)
        return self.ds_.render(f).astype(np.float32)


@hookimpl
def zsbench_add_models() -> list[type]:
    return [OffsetBumps]


SUITE = """
[suite]
name = "judging_toy"
seeds = [0]

[dataset]
plugin = "bumps"
image_size = 16
n_samples = 500

[[holdout]]
shape = "box"
low = { x = 4.5, y = 4.5 }
high = { x = 10.5, y = 10.5 }

[[transect]]
name = "row"
start = { x = 0.0, y = 7.0 }
end = { x = 15.0, y = 7.0 }
points = 16

[[model]]
plugin = "offset_bumps"
label = "offset"

[[metric]]
plugin = "conditional_generation"
samples = 1
max_requests = 64

[[output]]
plugin = "conditional_scatter"
samples = 1
max_requests = 64

[judging]
tolerance = TOL
"""


def _verdicts(tmp: Path, tolerance: float) -> dict[str, np.ndarray]:
    """Run the toy suite at ``tolerance`` and read the hole's per-draw verdicts back from
    every place that states them."""
    from zsbench.registry import Registry
    from zsbench.results import read_items
    from zsbench.run import run_suite
    from zsbench.runner import evaluate, prepare_data
    from zsbench.suite import load_suite
    from zsbench_plugins.outputs.conditional_strips import ConditionalStrips

    registry = Registry(extra=[sys.modules[__name__]])
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "suite.toml").write_text(SUITE.replace("TOL", str(tolerance)))
    suite = load_suite(tmp / "suite.toml", registry=registry)
    outcome = run_suite(suite, registry=registry, run_dir=tmp / "run",
                        executor=registry.create("executor", "local", {}))
    result = outcome.results[0]
    items = read_items(tmp / "run", "offset", 0, "conditional_generation")
    table = next((tmp / "run").rglob("conditional_requests.csv"))
    with table.open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "hole"]
    metrics = json.loads(next((tmp / "run").rglob("metrics.json")).read_text())
    # the strips' verdicts, for the transect's points inside the hole
    data = prepare_data(suite, registry)
    model = OffsetBumps().fit(data.splits["train"].images, seed=0)
    ctx = evaluate(model, data, label="offset", seed=0, holdout=suite.holdout)
    te = ctx.transects[0]
    strips = ConditionalStrips(samples=1)
    judged = strips.verdicts(ctx, te, strips.draws(ctx, te))
    curve = result.training["emergence"]["curve"][-1]
    return {"items": items["hole_gen_fail_rate"], "csv": np.array([float(r["failed"])
                                                                   for r in rows]),
            "score": result.scores["hole_gen_fail_rate"]["value"],
            "emergence": curve["hole_fail_rate"], "strips": judged["failed"][te.in_hole],
            "strips_expected": judge_draws(ctx.dataset, te.factors[te.in_hole],
                                           model.generate(te.factors[te.in_hole], seed=0),
                                           threshold=context_validity_threshold(ctx),
                                           judging=ctx.judging)["failed"],
            "metrics": metrics}


def test_one_tolerance_in_the_suite_moves_every_verdict_together(tmp_path: Path) -> None:
    wide = _verdicts(tmp_path / "wide", 0.1)
    narrow = _verdicts(tmp_path / "narrow", 0.05)
    for v in (wide, narrow):
        assert np.array_equal(v["items"], v["csv"])  # metrics.json items = the table
        assert v["score"] == pytest.approx(v["items"].mean())
        assert v["emergence"] == pytest.approx(v["items"].mean())  # the same requests
        assert np.array_equal(v["strips"], v["strips_expected"])
    # 0.1 of 15 px passes the offsets up to 1.2 px, 0.05 those up to 0.4 px
    assert 0.0 < wide["score"] < narrow["score"] < 1.0
    assert narrow["strips"].sum() > wide["strips"].sum()


# -- the Liang suites ------------------------------------------------------------------------

def _liang(path: str) -> tuple[object, Judging, np.ndarray, np.ndarray]:
    """The suite's dataset, its [judging] rule, and its training and hole centres (the
    suite's holdout box, read from the file)."""
    from zsbench_plugins.datasets.bumps import BumpsDataset

    config = tomllib.loads((ROOT / path).read_text(encoding="utf-8"))
    params = {k: v for k, v in config["dataset"].items() if k != "plugin"}
    ds = BumpsDataset(**params)
    judging = parse_judging(config["judging"], ds.space.names)
    f = ds.factors(seed=int(config["suite"].get("data_seed", 0)))
    box = config["holdout"][0]
    inside = np.all([(f[:, i] > box["low"][n]) & (f[:, i] < box["high"][n])
                     for i, n in enumerate(ds.space.names)], axis=0)
    return ds, judging, f[~inside], np.unique(f[inside], axis=0)


@pytest.mark.parametrize("path", ["suites/bumps_donut.toml", "suites/bumps_donut_stripes.toml",
                                  "suites/bumps_scaling.toml"])
def test_the_liang_suites_judge_in_pixels_under_the_grid_step(path: str) -> None:
    config = tomllib.loads((ROOT / path).read_text(encoding="utf-8"))
    j = parse_judging(config["judging"], ["x", "y"])
    tol = j.factor_tolerance(["x", "y"], np.array([27.0, 27.0]), np.ones(2))
    assert j.norm == "euclidean" and np.all(tol < 1.0)
    assert config["leaderboard"]["sort"] == "hole_gen_fail_rate"
    header = (ROOT / path).read_text(encoding="utf-8").split("[suite]")[0]
    assert "Euclidean" in header and "[judging]" in header


def test_on_bumps_donut_a_memoriser_fails_every_hole_request() -> None:
    ds, judging, train, hole = _liang("suites/bumps_donut.toml")
    d = np.linalg.norm(hole[:, None, :] - train[None, :, :], axis=2)
    nearest = train[d.argmin(axis=1)]
    draws = to_float(ds.render(nearest))
    bar = ds.validity_threshold(ds.render(train))
    judged = judge_draws(ds, hole, draws, threshold=bar, judging=judging)
    assert judged["valid"].all() and judged["failed"].all()  # hole fail rate 1.0
    exact = judge_draws(ds, hole, to_float(ds.render(hole)), threshold=bar, judging=judging)
    assert not exact["failed"].any()


def test_on_bumps_donut_a_blank_frame_never_sorts_above_a_bump_one_pixel_off() -> None:
    from zsbench.jobs import JobResult
    from zsbench.results import leaderboard_frame, sort_frame
    from zsbench_plugins.metrics.conditional_generation import ConditionalGeneration

    ds, judging, train, hole = _liang("suites/bumps_donut.toml")
    config = tomllib.loads((ROOT / "suites/bumps_donut.toml").read_text(encoding="utf-8"))
    board = config["leaderboard"]
    space = ds.space
    hole_split = Split(factors=hole, images=to_float(ds.render(hole)))
    splits = {"train": Split(factors=train, images=to_float(ds.render(train))),
              "hole": hole_split}
    metric = ConditionalGeneration(splits=["hole"], samples=1, max_requests=64)
    one_off = np.clip(hole + np.array([1.0, 0.0]), *ds.bounds)
    results = []
    for label, draw in (("blank", lambda f: np.ones((len(f), 1, 28, 28), np.float32)),
                        ("one_px_off", lambda f: to_float(ds.render(
                            np.clip(f + np.array([1.0, 0.0]), *ds.bounds))))):
        model = type("M", (), {"generate": staticmethod(lambda f, *, seed, d=draw: d(f)),
                               "name": label})()
        ctx = EvalContext(dataset=ds, space=space, model=model, label=label, seed=0,
                          splits=splits, latents={}, reconstructions={}, judging=judging)
        scores = metric.compute(ctx)
        results.append(JobResult(label=label, plugin=label, seed=0, status="ok", scores={
            k: {"value": s.value, "higher_is_better": s.higher_is_better,
                "headline": s.headline, "metric": metric.name} for k, s in scores.items()}))
    assert len(one_off) == len(hole)
    columns = [c for c in board["columns"] if c.startswith("hole_")]
    for order in (results, results[::-1]):
        df = sort_frame(leaderboard_frame(order, columns), board["sort"])
        assert list(df.index) == ["one_px_off", "blank"]
    # and the MSE alone would have put the blank frame first for a bump 2 px off
    two = to_float(ds.render(np.clip(hole + np.array([2.0, 0.0]), *ds.bounds)))
    truth = hole_split.images
    assert np.mean((1.0 - truth) ** 2) < np.mean((two - truth) ** 2)


# -- failure by depth ------------------------------------------------------------------------

def test_an_oracle_that_passes_one_grid_step_deep_fails_every_deeper_ring() -> None:
    ds, judging, train, hole = _liang("suites/bumps_donut.toml")
    d = np.linalg.norm(hole[:, None, :] - train[None, :, :], axis=2).min(axis=1)
    failed = d > 1.0 + 1e-9
    profile = depth_profile(hole, failed, train, low=np.zeros(2), spans=np.full(2, 27.0),
                            resolution=ds.resolution)
    assert profile.kind == "ring" and profile.names[0] == "ring1"
    assert profile.fail[0] == 0.0 and np.all(profile.fail[1:] == 1.0)
    assert len(profile.names) == 9  # the 17 x 17 square: rings 1 to 9
    assert profile.half_fail_depth == 1.0


def test_the_metric_reports_failure_by_ring_and_the_half_fail_depth(tmp_path: Path) -> None:
    from zsbench_plugins.metrics.conditional_generation import ConditionalGeneration
    from zsbench_plugins.outputs.conditional_depth import ConditionalDepth

    ds, judging, train, hole = _liang("suites/bumps_donut.toml")
    depth = np.linalg.norm(hole[:, None, :] - train[None, :, :], axis=2).min(axis=1)

    def draw(f: np.ndarray) -> np.ndarray:  # right within one grid step, blank deeper
        dd = np.linalg.norm(f[:, None, :] - train[None, :, :], axis=2).min(axis=1)
        out = to_float(ds.render(f))
        out[dd > 1.0 + 1e-9] = 1.0
        return out

    model = type("M", (), {"generate": staticmethod(lambda f, *, seed: draw(f)),
                           "name": "edge"})()
    splits = {"train": Split(factors=train, images=to_float(ds.render(train))),
              "hole": Split(factors=hole, images=to_float(ds.render(hole)))}
    ctx = EvalContext(dataset=ds, space=ds.space, model=model, label="edge", seed=0,
                      splits=splits, latents={}, reconstructions={}, judging=judging)
    scores = ConditionalGeneration(splits=["hole"], samples=1, max_requests=None).compute(ctx)
    assert scores["hole_fail_ring1"].value == 0.0
    assert all(scores[f"hole_fail_ring{k}"].value == 1.0 for k in range(2, 10))
    assert scores["hole_half_fail_depth"].value == 1.0
    assert scores["hole_gen_fail_rate"].value == pytest.approx(np.mean(depth > 1))
    assert scores["tolerance_x"].value == 0.5 and scores["judging_override"].value == 0.0
    with_own = ConditionalGeneration(splits=["hole"], samples=1, tolerance=0.1).compute(ctx)
    assert with_own["judging_override"].value == 1.0
    # the picture's table: the metric's own draws (one per request, not the output's
    # default four), the same rings, the same verdicts
    png, table = ConditionalDepth().write(ctx, tmp_path)
    assert png.stat().st_size > 0
    with table.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["fail_rate"]) for r in rows] == [0.0] + [1.0] * 8
    assert sum(int(r["draws"]) for r in rows) == len(hole)


def test_a_suite_rejects_a_bad_judging_table(tmp_path: Path) -> None:
    from zsbench.registry import Registry
    from zsbench.suite import load_suite

    registry = Registry(extra=[sys.modules[__name__]])
    (tmp_path / "s.toml").write_text(SUITE.replace("tolerance = TOL", "tolerance = { px = 1 }"))
    with pytest.raises(SuiteError, match=r"judging\.tolerance.*unknown unit"):
        load_suite(tmp_path / "s.toml", registry=registry)
    (tmp_path / "s.toml").write_text(SUITE.replace("tolerance = TOL", "tolerance = { z = 0.1 }"))
    with pytest.raises(SuiteError, match=r"judging\.tolerance\.z"):
        load_suite(tmp_path / "s.toml", registry=registry)


def test_a_blank_point_of_the_family_stays_judgeable() -> None:
    """With stripes, a centre far off the window renders a blank frame: drawing it blank
    is right (valid, passed), drawing a bump there is not."""
    from zsbench_plugins.datasets.bumps import BumpsDataset

    ds = BumpsDataset(n_samples=50, stripes=True)
    off = np.array([[-6.0, 14.0]])
    blank, bump = to_float(ds.render(off)), to_float(ds.render(np.array([[14.0, 14.0]])))
    judged = judge_draws(ds, np.repeat(off, 2, axis=0), np.concatenate([blank, bump]),
                         threshold=ds.validity_threshold(ds.render(ds.factors(seed=0))),
                         judging=parse_judging({"tolerance": {"resolution": 0.5}}, ["x", "y"]))
    assert judged["valid"][0] and not judged["failed"][0]
    assert judged["failed"][1]


def test_the_pixel_mse_is_of_the_unclipped_output_where_the_model_offers_it() -> None:
    """A decoder whose draws are clipped into [0, 1] but whose raw output overshoots: the
    pixel MSE is of the raw output (Liang et al. score the unclipped output); the verdicts
    are of the drawn images."""
    from zsbench_plugins.metrics.conditional_generation import split_draws

    ds, judging, train, hole = _liang("suites/bumps_donut.toml")
    splits = {"train": Split(factors=train, images=to_float(ds.render(train))),
              "hole": Split(factors=hole, images=to_float(ds.render(hole)))}
    exact = staticmethod(lambda f, *, seed: to_float(ds.render(f)))
    plain = type("M", (), {"generate": exact, "name": "plain"})()
    raw = type("M", (), {"generate": exact, "name": "raw", "generate_unclipped":
                         staticmethod(lambda f, *, seed: to_float(ds.render(f)) * 1.5)})()
    got = {}
    for model in (plain, raw):
        ctx = EvalContext(dataset=ds, space=ds.space, model=model, label=model.name, seed=0,
                          splits=splits, latents={}, reconstructions={}, judging=judging)
        got[model.name] = split_draws(ctx, "hole", samples=1, max_requests=8)
    assert np.all(got["plain"].mse < 1e-12) and np.all(got["raw"].mse > 1e-3)
    np.testing.assert_array_equal(got["plain"].failed, got["raw"].failed)
