"""Uncertainty in scores: bootstrap intervals over images and seeds, ties, targets and
controls in the leaderboard, invalid images in the factor scores, skips as n/a."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import toy_plugins
from scipy.ndimage import gaussian_filter

from zsbench import intervals as iv
from zsbench.jobs import JobResult
from zsbench.plugin import EvalContext, Model, Score, Split, to_float
from zsbench.recovery import validity_threshold
from zsbench.registry import Registry
from zsbench.results import (
    LEGEND,
    best_marks,
    format_leaderboard,
    items_path,
    leaderboard_frame,
    read_items,
    sort_frame,
)
from zsbench.run import run_suite
from zsbench.suite import load_suite
from zsbench.ties import uncertainty_notes

# -- the bootstrap ---------------------------------------------------------------------------


def test_the_interval_of_a_mean_covers_it_at_the_nominal_rate() -> None:
    """400 seeded trials of 300 draws from a known distribution (exponential, skewed): the
    95 % interval covers the true mean 95 ± 3 % of the time."""
    rng = np.random.default_rng(2024)
    hits = 0
    for trial in range(400):
        x = rng.exponential(2.0, size=300)
        lo, hi = iv.interval(iv.Items(iv.MEAN, (x,)), job_seed=trial)
        assert lo < float(x.mean()) < hi
        hits += lo <= 2.0 <= hi
    assert 0.92 <= hits / 400 <= 0.98


def test_the_interval_of_a_ratio_covers_it_at_the_nominal_rate() -> None:
    """A ratio of two groups' means (hole over rim): each group resampled on its own."""
    rng = np.random.default_rng(7)
    hits = 0
    for trial in range(400):
        num, den = rng.gamma(4.0, 0.5, size=200), rng.gamma(4.0, 0.25, size=250)  # ratio 2
        lo, hi = iv.interval(iv.Items(iv.RATIO, (num, den)), job_seed=trial)
        hits += lo <= 2.0 <= hi
    assert 0.92 <= hits / 400 <= 0.98


def test_nan_items_do_not_count_and_batches_agree() -> None:
    rng = np.random.default_rng(0)
    x = rng.random(500)
    x[::5] = np.nan  # e.g. invalid images: no factor error
    it = iv.Items(iv.MEAN, (x,))
    assert it.statistic() == pytest.approx(np.nanmean(x))
    lo, hi = iv.interval(it, job_seed=3)
    assert lo < np.nanmean(x) < hi
    # the runner computes all scores of a job in one batch: the same intervals
    other = iv.Items(iv.MEAN, (rng.random(500),))
    batch = iv.job_intervals({"a": it, "b": other}, job_seed=3)
    assert batch["a"] == pytest.approx((lo, hi), rel=1e-6)  # single-precision products
    assert iv.interval(it, job_seed=3) == (lo, hi)  # seeded: the same again
    assert iv.interval(it, job_seed=4) != (lo, hi)


def test_seeds_widen_the_interval_over_shared_images() -> None:
    """Seeds on the same images: one image resample shared by the seeds plus a t interval
    over the seeds (the seeds disagree by more than the images say: wider than one
    seed's interval)."""
    rng = np.random.default_rng(1)
    seeds = [0, 1, 2, 3]
    images = rng.normal(0.0, 1.0, 400)
    per_seed = [iv.Items(iv.MEAN, (images + off + rng.normal(0.0, 0.3, 400),))
                for off in (0.0, 0.3, -0.2, 0.5)]
    one = iv.interval_over_seeds(per_seed[:1], seeds[:1], seed=0)
    assert one == (*iv.interval(per_seed[0], 0), "bootstrap")
    lo, hi, method = iv.interval_over_seeds(per_seed, seeds, seed=0)
    assert method == "images+seeds"
    means = [it.statistic() for it in per_seed]
    assert lo < np.mean(means) < hi
    assert hi - lo > 1.5 * (one[1] - one[0])
    # at least as wide as the t interval over the seeds' values alone
    t_lo, t_hi = iv.seed_interval(means)
    assert hi - lo >= 0.99 * (t_hi - t_lo)
    # items that do not line up (other images): the t interval over the seeds
    ragged = per_seed[:3] + [iv.Items(iv.MEAN, (rng.normal(0.5, 1.0, 300),))]
    assert iv.interval_over_seeds(ragged, seeds, seed=0)[2] == "seeds"
    # seed-only interval (scores without per-image values): a t interval
    lo, hi = iv.seed_interval([1.0, 2.0, 3.0])
    assert (lo + hi) / 2 == pytest.approx(2.0)
    assert hi - 2.0 == pytest.approx(4.303 * 1.0 / math.sqrt(3), rel=1e-3)
    assert math.isnan(iv.seed_interval([1.0])[0])


def test_a_malformed_declaration_is_refused() -> None:
    with pytest.raises(ValueError, match="at most one"):
        iv.items_of(Score(1.0, False, items=np.ones(3), ratio_of=(np.ones(2), np.ones(2))))
    with pytest.raises(ValueError, match="one-dimensional"):
        iv.items_of(Score(1.0, False, items=np.ones((3, 2))))
    assert iv.items_of(Score(1.0, False)) is None


# -- the leaderboard: ties, targets, controls ------------------------------------------------


def _result(label: str, scores: dict[str, dict], seed: int = 0, **kw) -> JobResult:
    full = {}
    for name, s in scores.items():
        full[name] = {"higher_is_better": False, "headline": True, "metric": "m",
                      "interval": "bootstrap", **s}
    return JobResult(label=label, plugin="p", seed=seed, status="ok", scores=full, **kw)


def test_overlapping_intervals_are_ties() -> None:
    results = [
        _result("a", {"hole_fail_rate": {"value": 0.4709, "lo": 0.4242, "hi": 0.5175}}),
        _result("b", {"hole_fail_rate": {"value": 0.4848, "lo": 0.4382, "hi": 0.5315}}),
        _result("c", {"hole_fail_rate": {"value": 0.7900, "lo": 0.7500, "hi": 0.8300}}),
    ]
    df = leaderboard_frame(results)
    assert {"hole_fail_rate_lo", "hole_fail_rate_hi"} <= set(df.columns)
    marks = best_marks(df)["hole_fail_rate"]
    assert marks == {"a": "best", "b": "tie"}
    text = format_leaderboard(df)
    assert "**0.4709 [0.4242, 0.5175]**" in text and "**0.4848 [0.4382, 0.5315]**" in text
    assert "| 0.7900 [0.7500, 0.8300]  " in text


def _paired_run(tmp_path: Path, columns: dict[str, np.ndarray]) -> list[JobResult]:
    """One-seed jobs whose per-image values (``label -> items``) are stored as a run
    folder's ``items/`` holds them, with the interval the runner gives them."""
    from zsbench.results import write_items

    results = []
    for label, x in columns.items():
        it = iv.Items(iv.MEAN, (x,))
        lo, hi = iv.interval(it, 0)
        write_items(tmp_path, label, 0, "m", it.arrays("err"))
        results.append(_result(label, {"err": {"value": it.statistic(), "lo": lo, "hi": hi,
                                                "n": x.size}}))
    return results


def test_ties_are_decided_on_the_same_images(tmp_path: Path) -> None:
    """Two models on the same 200 images, B better (lower) on 74.5 % of them: their
    intervals overlap, but the paired difference excludes 0, so B is bold alone."""
    rng = np.random.default_rng(5)
    a = rng.gamma(1.25, 0.81, 200)
    d = rng.normal(-0.045, 0.068, 200)
    b = a + d
    assert (b < a).mean() == pytest.approx(0.745, abs=0.03)
    results = _paired_run(tmp_path, {"A": a, "B": b})
    unpaired = leaderboard_frame(results)
    assert unpaired.at["B", "err_hi"] > unpaired.at["A", "err_lo"]  # the intervals overlap
    assert best_marks(unpaired)["err"] == {"B": "best", "A": "tie"}
    df = leaderboard_frame(results, run_dir=tmp_path)
    diff, lo, hi = df.attrs["paired"]["err"]["A"]  # A minus B, positive: A worse
    assert 0 < lo <= diff <= hi
    assert best_marks(df)["err"] == {"B": "best"}
    text = format_leaderboard(df)
    assert text.count("**") == 2 and "**0.9" in text
    # a third model as good as B on every image but one: tied, and Bonferroni over the
    # two models compared with the best
    c = b.copy()
    c[0] += 1e-3
    df3 = leaderboard_frame(_paired_run(tmp_path, {"A": a, "B": b, "C": c}), run_dir=tmp_path)
    assert best_marks(df3)["err"] == {"B": "best", "C": "tie"}
    assert "Bonferroni" in " ".join(uncertainty_notes(df3))


def test_a_score_without_an_interval_is_never_bold_alone() -> None:
    """With one seed, a percentile or a correlation has no interval: 0.5000 against 0.5001
    is no win, and the legend says which scores have none."""
    results = [_result("a", {"corr": {"value": 0.5000, "interval": "none"}}),
               _result("b", {"corr": {"value": 0.5001, "interval": "none"}})]
    df = leaderboard_frame(results)
    assert best_marks(df)["corr"] == {"a": "best", "b": "tie"}
    notes = " ".join(uncertainty_notes(df))
    assert "No interval" in notes and "corr" in notes
    one_seed = leaderboard_frame([_result("a", {"x": {"value": 0.1, "lo": 0.0, "hi": 0.3,
                                                      "n": 16}})])
    notes = " ".join(uncertainty_notes(one_seed))
    assert "image noise only" in notes and "x n = 16" in notes
    assert "image noise only" in LEGEND


def test_a_collapsed_model_is_not_best_on_a_ratio_to_its_control() -> None:
    """Today's full polar_hole: the collapsed `vae` is equally bad in the hole and on the
    rim, so its hole/rim ratio (0.80) is the closest to 1, yet its rim fails: "control
    failed", never best, sorted last."""
    def row(label: str, ratio: float, rim_fail: float) -> JobResult:
        return _result(label, {
            "hole_rim_factor_err_ratio": {"value": ratio, "lo": ratio - 0.1, "hi": ratio + 0.1,
                                          "target": 1.0, "control": ["rim_fail_rate", 0.5]},
            "rim_fail_rate": {"value": rim_fail, "headline": False}})

    results = [row("vae", 0.80, 0.79), row("vae-fixed-sigma", 1.45, 0.20),
               row("ae", 1.60, 0.15)]
    df = leaderboard_frame(results, ["hole_rim_factor_err_ratio"])
    marks = best_marks(df)["hole_rim_factor_err_ratio"]
    assert marks == {"vae": "control failed", "vae-fixed-sigma": "best", "ae": "tie"}
    text = format_leaderboard(df, sort="hole_rim_factor_err_ratio")
    lines = text.splitlines()
    assert "hole_rim_factor_err_ratio → 1" in lines[0]
    assert lines[-1].startswith("| vae ") and "(control failed)" in lines[-1]
    assert "**" not in lines[-1]
    assert list(sort_frame(df, "hole_rim_factor_err_ratio").index) == [
        "vae-fixed-sigma", "ae", "vae"]
    # without a control score in the run, the ratio is ranked by its distance to 1
    bare = [_result(r.label, {k: v for k, v in r.scores.items() if k != "rim_fail_rate"})
            for r in results]
    marks = best_marks(leaderboard_frame(bare, ["hole_rim_factor_err_ratio"]))
    assert marks["hole_rim_factor_err_ratio"] == {"vae": "best"}


def test_skipped_metrics_are_na_with_their_reason() -> None:
    results = [_result("ae", {"test_mse": {"value": 0.1}},
                       skipped={"metric prior_coverage": 'needs model "ae" to offer `sample`'}),
               _result("vae", {"test_mse": {"value": 0.2},
                               "hole_coverage_ratio": {"value": 0.3, "metric": "prior_coverage",
                                                       "higher_is_better": True}})]
    df = leaderboard_frame(results, ["test_mse", "hole_coverage_ratio"])
    assert df.attrs["na"]["hole_coverage_ratio"] == {"ae": 'needs model "ae" to offer `sample`'}
    line = next(ln for ln in format_leaderboard(df).splitlines() if ln.startswith("| ae "))
    assert "n/a" in line


# -- invalid images: the validity rule on polar curves ---------------------------------------


@pytest.fixture(scope="module")
def polar() -> tuple:
    from zsbench_plugins.datasets.polar import PolarDataset

    ds = PolarDataset(n_samples=400, image_size=64)
    f = ds.factors(seed=0)
    images = to_float(ds.render(f))
    ctx = EvalContext(dataset=ds, space=ds.space, model=None, label="x", seed=0,
                      splits={"train": Split(factors=f, images=images)}, latents={},
                      reconstructions={})
    return ds, ctx, f, images


def _valid(ctx: EvalContext, key: str, images: np.ndarray) -> np.ndarray:
    from zsbench_plugins.metrics.factor_recovery import family_validity

    rec = ctx.dataset.recover(np.asarray(images, np.float32))
    return family_validity(ctx, key, rec.factors, rec.residual)


def test_blurred_blank_and_doubled_images_are_not_images_of_the_family(polar) -> None:
    ds, ctx, _, images = polar
    sub = images[:40]
    assert _valid(ctx, "exact", sub).all()
    sharp = gaussian_filter(sub, sigma=(0, 0, 0.5, 0.5))  # as sharp as a good model
    assert _valid(ctx, "sharp", sharp).all()
    for sigma in (1.5, 3.0):  # a blurred blob
        blurred = gaussian_filter(sub, sigma=(0, 0, sigma, sigma))
        assert _valid(ctx, f"blur{sigma}", blurred).mean() <= 0.05
    blank = np.zeros_like(sub[:3])
    assert not _valid(ctx, "blank", blank).any()
    # two distinct curves of comparable ink superposed: a small and a large wavy one
    rng = np.random.default_rng(1)
    small = np.c_[rng.uniform(0.6, 0.8, 20), rng.uniform(0.5, 0.8, 20)]
    large = np.c_[rng.uniform(1.5, 1.7, 20), rng.uniform(0.5, 0.8, 20)]
    doubled = np.clip(to_float(ds.render(small)) + to_float(ds.render(large)), 0, 1)
    assert not _valid(ctx, "doubled", doubled).any()
    # why the relative bar: the absolute bar alone (the residual of the training images'
    # mean image) lets a blank frame through, since a thin line holds little ink
    bar = validity_threshold(ds, images)
    assert ds.recover(blank).residual[0] < bar


class _Blur(Model):
    """Reconstructs each image blurred by ``sigma`` pixels; ``blob``: one blurred generic
    shape (the training images' mean, blurred) whatever the input: a collapsed model."""

    name = "blur"

    def __init__(self, *, sigma: float = 0.5, blob: bool = False) -> None:
        self.sigma = sigma
        self.blob = blob

    def fit(self, images, *, seed, weights=None, validation=None):
        self.mean_ = gaussian_filter(np.asarray(images, np.float64).mean(0), (0, 2, 2))
        return self

    def encode(self, images):
        return np.asarray(images, np.float32).reshape(len(images), -1)

    def decode(self, latents):
        x = np.asarray(latents, np.float32).reshape((len(latents), *self.mean_.shape))
        if self.blob:
            return np.repeat(self.mean_[None].astype(np.float32), len(x), axis=0)
        return gaussian_filter(x, sigma=(0, 0, self.sigma, self.sigma))


def test_a_collapsed_model_fails_the_rim_and_loses_the_ratio(tmp_path: Path) -> None:
    """End to end on polar curves: a model that draws one blurred blob has no valid
    reconstruction (valid share 0, fail rate 1), no factor error to average, and its
    ratio's control fails; a sharp model's reconstructions are valid."""
    from test_recovery import _polar

    from zsbench.runner import evaluate, prepare_data
    from zsbench_plugins.metrics.factor_recovery import FactorRecovery

    suite, registry = _polar(tmp_path)
    data = prepare_data(suite, registry)
    results = []
    for label, model in (("sharp", _Blur(sigma=0.5)), ("collapsed", _Blur(blob=True))):
        model.fit(data.splits["train"].images, seed=0)
        ctx = evaluate(model, data, label=label, seed=0, holdout=suite.holdout)
        scores = FactorRecovery().compute(ctx)
        # each score with the interval the runner gives it (a score without one is never
        # bold alone)
        bounds = {k: iv.interval(it, 0) for k, s in scores.items()
                  if (it := iv.items_of(s)) is not None and math.isfinite(s.value)}
        results.append(_result(label, {
            k: {"value": s.value, "higher_is_better": s.higher_is_better,
                **dict(zip(("lo", "hi"), bounds.get(k, (None, None)))),
                **({"target": s.target} if s.target is not None else {}),
                **({"control": list(s.control)} if s.control else {})}
            for k, s in scores.items()}))
        if label == "sharp":
            assert scores["hole_valid_share"].value == 1.0
            assert scores["rim_fail_rate"].value < 0.5
        else:
            assert scores["hole_valid_share"].value == scores["rim_valid_share"].value == 0.0
            assert scores["hole_fail_rate"].value == scores["rim_fail_rate"].value == 1.0
            assert math.isnan(scores["hole_factor_err"].value)  # no valid image: no error
            assert math.isnan(scores["hole_rim_factor_err_ratio"].value)
        ratio = scores["hole_rim_factor_err_ratio"]
        assert ratio.target == 1.0 and ratio.control == ("rim_fail_rate", 0.5)
        assert len(scores["hole_factor_err"].items) == len(data.splits["hole"])
    df = leaderboard_frame(results, ["hole_rim_factor_err_ratio", "hole_fail_rate",
                                     "hole_valid_share"])
    assert df.attrs["control"]["hole_rim_factor_err_ratio"] == {"sharp": "ok",
                                                                "collapsed": "failed"}
    marks = best_marks(df)
    assert marks["hole_rim_factor_err_ratio"] == {"sharp": "best"}
    assert marks["hole_fail_rate"] == {"sharp": "best"}
    assert marks["hole_valid_share"] == {"sharp": "best"}


# -- a run: intervals stored, combined over seeds, skips noted once ---------------------------

SUITE = """
[suite]
name = "intervals"
seeds = [0, 1]

[dataset]
plugin = "toy"
n_samples = 300

[[holdout]]
shape = "ball"
center = { a = 0.5, b = 0.5 }
radius = 0.2

[[model]]
plugin = "pattern"
label = "p"
spread = 1.0

[[model]]
plugin = "linear"
label = "pca"

[[metric]]
plugin = "item_mse"

[[metric]]
plugin = "mse"

[[metric]]
plugin = "reachability"
"""


def test_a_run_stores_intervals_and_combines_seeds(tmp_path: Path, caplog) -> None:
    registry = Registry(extra=[toy_plugins])
    path = tmp_path / "suite.toml"
    path.write_text(SUITE)
    suite = load_suite(path, registry=registry)
    with caplog.at_level(logging.INFO, logger="zsbench"):
        out = run_suite(suite, registry=registry, run_dir=tmp_path / "run",
                        executor=registry.create("executor", "local", {}))
    run = out.run_dir
    data = json.loads((run / "metrics.json").read_text())["results"]
    hole = data[0]["scores"]["hole_item_mse"]
    assert hole["interval"] == "bootstrap" and hole["lo"] < hole["value"] < hole["hi"]
    assert hole["n"] == json.loads((run / "manifest.json").read_text())["splits"]["hole"]
    assert data[0]["scores"]["hole_mse"]["interval"] == "none"  # no per-image values
    stored = read_items(run, "p", 0, "item_mse")
    assert stored["hole_item_mse"].shape == (hole["n"],)
    assert items_path(run, "p", 0, "item_mse").is_file()
    assert "items/p-seed0/item_mse.npz" in out.results[0].files
    board = pd.read_csv(run / "leaderboard.csv", index_col=0)
    for c in ("hole_item_mse", "hole_mse"):
        assert {f"{c}_lo", f"{c}_hi"} <= set(board.columns)
    frame = leaderboard_frame(out.results, run_dir=run)
    assert frame.attrs["methods"]["hole_item_mse"] == {"p": "images+seeds", "pca": "images+seeds"}
    assert frame.attrs["methods"]["hole_mse"] == {"p": "seeds", "pca": "seeds"}
    lo, hi = frame.loc["p", ["hole_item_mse_lo", "hole_item_mse_hi"]]
    assert lo < frame.loc["p", "hole_item_mse"] < hi
    # the two seeds of "p" differ (seed 1 draws a 20 % larger pattern): wider than a seed's
    assert hi - lo > hole["hi"] - hole["lo"]
    # skips: one short note per run and reason (the reason names the model), not one per
    # job, and no failure
    notes = [r.getMessage() for r in caplog.records if "does not apply" in r.getMessage()]
    assert len(notes) == 2 and all("metric reachability" in n for n in notes)
    assert all(r.levelno == logging.INFO for r in caplog.records if "does not apply" in
               r.getMessage())
    assert all(not r.failures and not r.warnings for r in out.results)
    report = (run / "report.html").read_text()
    assert "Not applicable (n/a)" in report and "n/a" in report


def test_compare_reads_structured_failures_and_old_warnings() -> None:
    from zsbench.compare import summarize_results

    manifest = {"suite": {"name": "s"}, "seeds": [0]}
    new = _result("m", {"x": {"value": 1.0}},
                  failures={"metric flaky": "RuntimeError: planted"},
                  warnings=['metric "flaky" failed: RuntimeError: planted'])
    old = _result("m", {"x": {"value": 1.0}},
                  warnings=['metric "flaky" failed: RuntimeError: planted'])
    for r in (new, old):
        s = summarize_results([r], manifest, None)
        assert "flaky" in s.models["m"].metric_failures
    note = _result("m", {"x": {"value": 1.0}}, warnings=['metric "x": something else'])
    assert not summarize_results([note], manifest, None).models["m"].metric_failures


def test_resampled_means_stay_within_the_items() -> None:
    """A rate's interval never leaves [0, 1], whatever the rounding of the products."""
    from zsbench.intervals import resampled_means, resample_counts

    rng = np.random.default_rng(0)
    rate = (rng.random(25) < 0.04).astype(np.float64)
    big = 1e6 + rng.random(50)
    for column in (rate, big, np.array([0.0, np.nan, 0.0])):
        reps = resampled_means(resample_counts(len(column), seed=1), [column])[0]
        ok = reps[np.isfinite(reps)]
        assert ok.min() >= np.nanmin(column) and ok.max() <= np.nanmax(column)
