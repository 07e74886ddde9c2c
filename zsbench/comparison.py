"""Regression checks: compare two runs, or a run against a committed baseline.

A run folder (or a baseline file) is first reduced to a :class:`Summary`: for each model,
its status, its seeds and, for each score, the mean and the spread (population std) over the
seeds that succeeded. Two summaries are then compared score by score under the tolerances
declared in the suite's ``[tolerances]`` table::

    [tolerances]
    default = { relative = 0.10, absolute = 1e-3 }   # every score not named below
    hole_bce = { absolute = 0.02 }                   # one score, by name
    probe = { relative = 0.25 }                      # every score of one metric plugin
    transect_in_bce = { relative = 0.05, spread = 2.0 }

A change counts against a score only in its *worse* direction (``higher_is_better`` decides
which way that is). The allowed worsening is ``absolute + relative * |baseline mean| +
spread * max(baseline std, new std)``; the most specific entry wins entirely (score name,
then metric plugin, then ``default``, then :data:`BUILTIN_TOLERANCE`), and keys it leaves out
are 0. Verdicts: ``same`` (equal), ``better``, ``worse within tolerance``, ``REGRESSION``. A
model or seed that failed in the new run but succeeded in the baseline is a regression too, as
is a score whose metric plugin raised in the new run.

A score that declares a ``target`` (e.g. 1 for a hole/rim ratio) is worse when it moves
away from its target, whatever its direction.

**Paired comparisons.** When both sides hold per-image scores of the same images (same
data seed and experiment; a run folder's ``items/``, a baseline's ``NAME.items.npz``
written by ``zsbench baseline``) and those values reproduce the recorded scores, a score
is compared image by image: the difference of its means over seeds, with a paired 95 %
bootstrap interval (one resample of the images shared by every seed of both sides:
:func:`zsbench.intervals.paired_difference`). It is a ``REGRESSION`` only if it is worse by
more than ``absolute + spread * std`` of its tolerance plus the seed allowance
``2 sigma sqrt(1/n_base + 1/n_new)`` (``sigma``: the larger sample std over seeds) *and*
the paired interval excludes zero on the worse side. When both sides trained the same
models (the same seeds, each ending on the same training loss bit for bit: a change in
evaluation only) there is no seed allowance. With fewer than three seeds on each
side, ``sigma`` is the seed spread a baseline recorded (``seed_sd``, measured on three
seeds or more: ``zsbench baseline RUN --seed-spread RUN3``) and 2 becomes the t quantile of
its degrees of freedom (one-sided 97.5 %, 4.30 for 3 seeds), so that a change of training
trajectory alone is flagged about 2.5 % of the time; with one seed each and none recorded
it is 0 (a note says so). Pairing says whether two trained models differ on these images;
the seed allowance whether the
difference exceeds what another training seed gives. The ``relative`` part of a tolerance
stands in for noise the tolerance rule cannot measure, so the paired rule leaves it out: a
5 % change on the same images is caught, a rerun with other training seeds that moves
within the recorded seed spread is not. Scores without per-image values on both sides
(old run folders and baselines) keep the tolerance rule.

Usage errors (exit code 2, :class:`ComparisonError`): runs of different suites (name,
profile, or configuration apart from ``[tolerances]`` and ``[leaderboard]``), unless
``allow_suite_change``; a model or a score present on one side only (named).

The determinism contract: on CPU, with the same environment (device, torch, numpy, number
of torch threads, deterministic algorithms on), a rerun of the same code with the same seeds
gives bit-identical scores; the table's ``identical`` column shows it. Exact equality is
reported, never required: the tolerances decide, and when the environments differ (another
device, another torch) the report says how.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zsbench.baselines import baseline_scores, load_summary
from zsbench.comparison_text import format_signed
from zsbench.errors import RegressionError, did_you_mean_hint
from zsbench.intervals import paired_difference
from zsbench.seed_spread import seed_allowance, spread_note
from zsbench.results import format_number
from zsbench.seeds import derive_seed
from zsbench.summaries import (
    ENV_KEYS,
    SPREAD_SEEDS,
    IDENTITY_KEYS,
    OPTIONAL_ENV_KEYS,
    ModelSummary,
    Summary,
    plugin_differences,
    same_training,
    summarize_run,
)
from zsbench.tolerances import (
    ComparisonError,
    Tolerance,
    check_tolerance_keys,
    parse_tolerances,
    resolve_tolerance,
)

SAME, BETTER, WORSE_OK, REGRESSION = "same", "better", "worse within tolerance", "REGRESSION"
FAILED, METRIC_FAILED, UNDEFINED = "FAILED", "METRIC FAILED", "REGRESSION (now NaN)"
REGRESSION_VERDICTS = {REGRESSION, FAILED, METRIC_FAILED, UNDEFINED}


@dataclass
class Row:
    """One model x score of a comparison."""

    model: str
    score: str
    higher_is_better: bool | None
    base_mean: float = math.nan
    base_std: float = math.nan
    new_mean: float = math.nan
    new_std: float = math.nan
    allowed: float = math.nan
    tolerance: str = ""
    identical: bool = False
    verdict: str = SAME
    detail: str = ""
    tolerance_source: str = "builtin"
    target: float | None = None
    rule: str = "tolerance"  # or "paired": both runs hold per-image scores of the same images
    paired_diff: float = math.nan  # new - base (for a target score: of |x - target|)
    paired_lo: float = math.nan
    paired_hi: float = math.nan
    seed_allowance: float = 0.0
    recorded_spread: bool = False  # the seed allowance comes from the baseline's seed_sd
    same_training: bool = False  # both sides trained the same models (no seed allowance)

    @property
    def change(self) -> float:
        return self.new_mean - self.base_mean

    @property
    def relative_change(self) -> float:
        if not (math.isfinite(self.base_mean) and math.isfinite(self.new_mean)):
            return math.nan
        if self.base_mean == 0:
            return 0.0 if self.new_mean == 0 else math.inf * math.copysign(1, self.change)
        return self.change / abs(self.base_mean)

    @property
    def regression(self) -> bool:
        return self.verdict in REGRESSION_VERDICTS

    def describe(self) -> str:
        """One line naming the model and score, for messages."""
        if self.verdict in (FAILED, METRIC_FAILED):
            return f'model "{self.model}": {self.detail}'
        rel = self.relative_change
        rel_text = f" ({rel:+.1%})" if math.isfinite(rel) else ""
        way = "higher" if self.higher_is_better else "lower"
        if self.target is not None:
            way = f"closest to {self.target:g} is best"
        else:
            way = f"{way} is better"
        text = (f'model "{self.model}", score "{self.score}" ({way}): '
                f"{format_number(self.base_mean)} -> {format_number(self.new_mean)}{rel_text}, worse by "
                f"{format_number(abs(_worse_by(self)))} where {format_number(self.allowed)} is allowed "
                f"(tolerance {self.tolerance}, from {self.tolerance_source})")
        if self.rule == "paired":
            text += (f"; paired change {format_signed(self.paired_diff)} "
                     f"[{format_signed(self.paired_lo)}, {format_signed(self.paired_hi)}] on the same images")
        return text


@dataclass
class Comparison:
    """The outcome: one :class:`Row` per model x score, plus notes about the two sides."""

    base: Summary
    new: Summary
    rows: list[Row]
    notes: list[str]
    same_environment: bool
    environment_differences: list[str]
    plugin_differences: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.regression]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0

    @property
    def identical(self) -> bool:
        return all(r.identical for r in self.rows)

    def frame(self) -> Any:
        """The rows as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame([{
            "model": r.model, "score": r.score, "higher_is_better": r.higher_is_better,
            "baseline": r.base_mean, "baseline_std": r.base_std, "new": r.new_mean,
            "new_std": r.new_std, "change": r.change, "relative_change": r.relative_change,
            "allowed": r.allowed, "tolerance": r.tolerance, "identical": r.identical,
            "rule": r.rule, "paired_change": r.paired_diff, "paired_lo": r.paired_lo,
            "paired_hi": r.paired_hi, "verdict": r.verdict} for r in self.rows])

    def raise_for_regressions(self) -> None:
        """Raise :class:`RegressionError` (exit code 1) naming every regression."""
        bad = self.regressions
        if bad:
            raise RegressionError([r.describe() for r in bad], self.new.source,
                                  self.base.source)


def environment_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    diffs = []
    for k in ENV_KEYS:
        if k in OPTIONAL_ENV_KEYS and (a.get(k) is None or b.get(k) is None):
            continue
        if a.get(k) != b.get(k):
            diffs.append(f"{k} {a.get(k)} vs {b.get(k)}")
    return diffs


def _same_suite(base: Summary, new: Summary, allow_change: bool, notes: list[str]) -> None:
    a, b = base.suite, new.suite
    problems = []
    for key in ("name", "profile"):
        if a.get(key) != b.get(key):
            problems.append(f"suite {key} {a.get(key)!r} vs {b.get(key)!r}")
    ha, hb = a.get("experiment_hash"), b.get("experiment_hash")
    if ha and hb:
        if ha != hb:
            problems.append(f"configuration {ha} vs {hb}")
        elif a.get("config_hash") != b.get("config_hash"):
            notes.append("only [tolerances] or [leaderboard] differ between the two suites; "
                         "the new run's tolerances apply.")
    elif a.get("config_hash") != b.get("config_hash"):
        problems.append(f"config hash {a.get('config_hash')} vs {b.get('config_hash')}")
    if a.get("seeds") and b.get("seeds") and list(a["seeds"]) != list(b["seeds"]):
        notes.append(f"seeds differ: {a['seeds']} vs {b['seeds']}; means over different "
                     "seeds are compared.")
    if problems:
        text = "; ".join(problems)
        if allow_change:
            notes.append(f"different suites ({text}); compared anyway (--allow-suite-change).")
            return
        raise ComparisonError(
            f"{base.source} and {new.source} are runs of different suites ({text}). Fix: "
            "compare runs of the same suite and profile; if the suite changed on purpose, "
            "regenerate the baseline (`zsbench baseline RUN --out FILE`) or pass "
            "--allow-suite-change.")


def _worse_by(row: Row) -> float:
    """How much worse the new mean is (negative: better): farther from the target for a
    score with one, else in the score's worse direction."""
    a, b = row.base_mean, row.new_mean
    if row.target is not None:
        return abs(b - row.target) - abs(a - row.target)
    return (a - b) if row.higher_is_better else (b - a)


def _score_verdict(row: Row, tol: Tolerance, paired: tuple[float, float, float] | None = None,
                   counts: tuple[int, int] = (0, 0),
                   recorded: tuple[float, int] | None = None) -> None:
    """The verdict of one score. Without ``paired`` (the tolerance rule): worse by more than
    the tolerance. With ``paired`` (``(difference, lo, hi)`` of the score between the two
    runs on the same images, a paired bootstrap; for a target score the change of the
    distance to it) the paired rule: worse by more than ``absolute + spread x std`` plus
    :func:`seed_allowance`, *and* the paired interval excludes zero on the worse side.
    ``recorded``: the baseline's seed spread (sample std, seeds), the ``std`` of a
    tolerance's ``spread`` too when neither side has two seeds."""
    a, b = row.base_mean, row.new_mean
    own = [x for x in (row.base_std, row.new_std) if math.isfinite(x)]
    if recorded is not None and max(counts) < 2 and math.isfinite(recorded[0]):
        own.append(recorded[0])
    std = max([0.0, *own])
    row.allowed = tol.allowed(a, std)
    row.tolerance = tol.describe()
    row.tolerance_source = tol.source
    row.identical = (_bits(a) == _bits(b)) and (_bits(row.base_std) == _bits(row.new_std))
    if paired is not None and math.isfinite(a) and math.isfinite(b):
        row.rule = "paired"
        row.paired_diff, row.paired_lo, row.paired_hi = paired
        row.seed_allowance = 0.0 if row.same_training else seed_allowance(
            row.base_std, counts[0], row.new_std, counts[1], recorded)
        row.recorded_spread = bool(row.seed_allowance) and max(counts) < SPREAD_SEEDS \
            and recorded is not None
        row.allowed = tol.absolute + tol.spread * std + row.seed_allowance
        row.tolerance = " + ".join(p for p in (
            f"{tol.absolute:.3g}" if tol.absolute else "",
            f"{tol.spread:.3g}σ" if tol.spread else "",
            ("recorded seed spread" if row.recorded_spread else "seed spread")
            if row.seed_allowance else "") if p) or "exact"
        row.tolerance += ", paired"
        if a == b:
            row.verdict = SAME
            return
        worse_by = _worse_by(row)
        # the worse side of the difference: up for a lower-is-better or target score
        worse_lo = row.paired_lo if (row.target is not None or not row.higher_is_better) \
            else -row.paired_hi
        significant = math.isfinite(worse_lo) and worse_lo > 0
        if worse_by < 0:
            row.verdict = BETTER
        elif worse_by > row.allowed and significant:
            row.verdict = REGRESSION
        else:
            row.verdict = WORSE_OK
            row.detail = ("within the seed spread" if significant else
                          "the paired interval of the change includes 0")
        return
    if math.isnan(a) and math.isnan(b):
        row.verdict = SAME
    elif math.isnan(b):
        row.verdict = UNDEFINED
        row.detail = f'score "{row.score}" is NaN (undefined) in the new run, ' \
                     f"{format_number(a)} in the baseline"
    elif math.isnan(a):
        row.verdict = BETTER
        row.detail = "undefined (NaN) in the baseline"
    elif a == b:
        row.verdict = SAME
    else:
        worse_by = _worse_by(row)
        if worse_by < 0:
            row.verdict = BETTER
        elif worse_by <= row.allowed:
            row.verdict = WORSE_OK
        else:
            row.verdict = REGRESSION


def _same_images(base: Summary, new: Summary) -> bool:
    """Whether the two sides evaluated the same images: same data seed and the same
    experiment (configuration apart from tolerances and leaderboard)."""
    a, b = base.suite, new.suite
    if a.get("data_seed") is None or a.get("data_seed") != b.get("data_seed"):
        return False
    ha, hb = a.get("experiment_hash"), b.get("experiment_hash")
    if ha and hb:
        return ha == hb
    return bool(a.get("config_hash")) and a.get("config_hash") == b.get("config_hash")


def _paired(base: Summary, new: Summary, label: str, name: str,
            target: float | None) -> tuple[float, float, float] | None:
    """The paired difference of a score between the two sides, or None without per-item
    values on both (or when they do not line up)."""
    a, b = base.seed_items(label, name), new.seed_items(label, name)
    if not a or not b:
        return None
    try:
        return paired_difference(a, b, derive_seed(0, f"paired:{label}:{name}"),
                                 target=target)
    except ValueError:
        return None


def _first_line(text: str, limit: int = 240) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _bits(x: float) -> Any:
    return "nan" if x is None or math.isnan(x) else float(x).hex()


def compare(base: Summary, new: Summary, *, scores: Sequence[str] | None = None,
            all_scores: bool = False, allow_suite_change: bool = False,
            tolerances: Mapping[str, Any] | None = None) -> Comparison:
    """Compare ``new`` against ``base`` (see the module docstring).

    Scores compared: ``scores`` if given; else those a baseline keeps; else (two runs) the
    headline scores and the suite's leaderboard columns, or every score with
    ``all_scores``. Tolerances: ``tolerances`` if given, else the new run's suite's, else the
    baseline's."""
    notes: list[str] = []
    _same_suite(base, new, allow_suite_change, notes)
    all_names = {n for s in (base, new) for m in s.models.values() for n in m.scores}
    tol_table = _tolerance_table(base, new, tolerances, all_names)
    _same_models(base, new, allow_suite_change, notes)
    wanted = _wanted_scores(base, new, scores, all_scores, all_names)
    rows: list[Row] = []
    pairable = _same_images(base, new)
    n_paired = 0
    for label, bm in base.models.items():
        nm = new.models.get(label)
        if nm is None:
            continue
        lost = _lost_seeds_row(label, bm, nm)
        if lost is not None:
            rows.append(lost)
            if not nm.seeds:
                continue
        if not bm.seeds:  # failed in the baseline too: nothing to compare
            notes.append(f'model "{label}" failed in the baseline; its scores are not compared.')
            continue
        for name in wanted:
            if bm.scores.get(name) is None or nm.scores.get(name) is None:
                missing = _missing_score(base, new, label, name, named=bool(scores),
                                         allow_suite_change=allow_suite_change, notes=notes)
                if missing is not None:
                    rows.append(missing)
                continue
            row, paired = _score_row(base, new, label, name, tol_table, pairable)
            n_paired += paired
            rows.append(row)
    diffs, plugin_diffs, same_env = _environment_notes(base, new, notes)
    _rule_notes(rows, notes, new, n_paired=n_paired, pairable=pairable, same_env=same_env)
    spread_note(base, new, rows, notes)
    return Comparison(base=base, new=new, rows=rows, notes=notes, same_environment=same_env,
                      environment_differences=diffs, plugin_differences=plugin_diffs)


def _tolerance_table(base: Summary, new: Summary, tolerances: Mapping[str, Any] | None,
                     all_names: set[str]) -> dict[str, Tolerance]:
    """The tolerances that apply (``tolerances``, else the new run's, else the baseline's),
    parsed and checked against the score names and metric plugins of both sides."""
    if tolerances is not None:
        raw_tol, where = dict(tolerances), "tolerances"
    elif new.tolerances or not base.tolerances:
        raw_tol, where = new.tolerances, f"{new.source}: [tolerances]"
    else:
        raw_tol, where = base.tolerances, f"{base.source}: [tolerances]"
    tol_table = parse_tolerances(raw_tol, where)
    all_metrics = {sc.metric for s in (base, new) for m in s.models.values()
                   for sc in m.scores.values()}
    check_tolerance_keys(tol_table, all_names, all_metrics, where)
    return tol_table


def _same_models(base: Summary, new: Summary, allow_change: bool, notes: list[str]) -> None:
    """A :class:`ComparisonError` naming the models present on one side only, or with
    ``allow_change`` a note that they are not compared."""
    only_base = [m for m in base.models if m not in new.models]
    only_new = [m for m in new.models if m not in base.models]
    if not (only_base or only_new):
        return
    parts = []
    if only_base:
        parts.append(f"model(s) {', '.join(repr(m) for m in only_base)} only in {base.source}")
    if only_new:
        parts.append(f"model(s) {', '.join(repr(m) for m in only_new)} only in {new.source}")
    if not allow_change:
        raise ComparisonError(f"{'; '.join(parts)}. Fix: compare runs with the same "
                              "models (same suite), or pass --allow-suite-change to "
                              "compare the models they share.")
    notes.append("; ".join(parts) + " (not compared).")


def _wanted_scores(base: Summary, new: Summary, scores: Sequence[str] | None,
                   all_scores: bool, all_names: set[str]) -> list[str]:
    """The score names to compare, in order (see :func:`compare`); a name in ``scores``
    that neither side has is a :class:`ComparisonError`."""
    if scores:
        for name in scores:
            if name not in all_names:
                hint = did_you_mean_hint(name, all_names)
                raise ComparisonError(f'score "{name}" is in neither {base.source} nor '
                                      f"{new.source}. Fix: {hint}scores: "
                                      f"{', '.join(sorted(all_names))}.")
        return list(scores)
    if base.selected is not None:
        return list(base.selected)
    wanted = baseline_scores(base, all_scores=all_scores)
    if not all_scores:  # a score that is headline in either run
        wanted += [n for n in baseline_scores(new) if n not in wanted]
    return wanted


def _lost_seeds_row(label: str, bm: ModelSummary, nm: ModelSummary) -> Row | None:
    """The ``FAILED`` row of a model whose seeds that succeeded in the baseline (``bm``)
    failed in the new run (``nm``), or None when none did."""
    lost = [s for s in bm.seeds if s in nm.failed_seeds]
    if not lost:
        return None
    errors = "; ".join(f"seed {s}: {_first_line(nm.errors.get(s, 'failed'))}" for s in lost)
    what = "failed" if not nm.seeds else f"failed on {len(lost)} seed(s)"
    return Row(model=label, score="(model)", higher_is_better=None, verdict=FAILED,
               detail=f"{what} in the new run ({errors}); it succeeded in the baseline")


def _missing_score(base: Summary, new: Summary, label: str, name: str, *, named: bool,
                   allow_suite_change: bool, notes: list[str]) -> Row | None:
    """Score ``name`` of model ``label``, missing on one side at least: a ``METRIC
    FAILED`` row when its metric plugin raised in the new run; None when the model has it
    on neither side and it was not ``named``, or (with ``allow_suite_change``) noted as not
    compared; else a :class:`ComparisonError`."""
    bm, nm = base.models[label], new.models[label]
    bs, ns = bm.scores.get(name), nm.scores.get(name)
    if bs is None and ns is None and not named:
        return None  # a score this model does not have on either side
    metric = (bs or ns).metric if (bs or ns) else None
    if ns is None and metric in nm.metric_failures:
        return Row(model=label, score=name, higher_is_better=bs.higher_is_better if bs else None,
                   base_mean=bs.mean if bs else math.nan, verdict=METRIC_FAILED,
                   detail=f'score "{name}" is missing because '
                          f"{_first_line(nm.metric_failures[metric])}")
    side = new.source if ns is None else base.source
    if allow_suite_change:
        notes.append(f'score "{name}" of model "{label}" is missing from {side} (not compared).')
        return None
    hint = did_you_mean_hint(name, bm.scores if ns is None else nm.scores)
    raise ComparisonError(
        f'score "{name}" of model "{label}" is missing from {side}'
        + (f' (metric plugin "{metric}")' if metric else "") +
        f". Fix: {hint}run the same metrics on both sides, choose the scores with "
        "--scores, or regenerate the baseline.")


def _score_row(base: Summary, new: Summary, label: str, name: str,
               tol_table: Mapping[str, Tolerance], pairable: bool) -> tuple[Row, bool]:
    """The row of score ``name`` of model ``label``, present on both sides, with its
    verdict; and whether it was compared image by image (``pairable``: same images)."""
    bm, nm = base.models[label], new.models[label]
    bs, ns = bm.scores[name], nm.scores[name]
    if bs.higher_is_better != ns.higher_is_better:
        raise ComparisonError(
            f'score "{name}" changed direction between {base.source} and {new.source} '
            f"(higher_is_better {bs.higher_is_better} vs {ns.higher_is_better}). Fix: "
            "regenerate the baseline.")
    target = ns.target if ns.target is not None else bs.target
    row = Row(model=label, score=name, higher_is_better=bs.higher_is_better,
              base_mean=bs.mean, base_std=bs.std, new_mean=ns.mean, new_std=ns.std,
              target=target)
    paired = _paired(base, new, label, name, target) if pairable else None
    recorded = None if bs.seed_sd is None else (bs.seed_sd, bs.seed_sd_seeds)
    row.same_training = same_training(bm, nm)
    _score_verdict(row, resolve_tolerance(tol_table, name, ns.metric or bs.metric),
                   paired, (bs.n or len(bm.seeds), ns.n or len(nm.seeds)), recorded)
    return row, paired is not None


def _environment_notes(base: Summary, new: Summary,
                       notes: list[str]) -> tuple[list[str], list[str], bool]:
    """Put notes on differing environments and plugin versions first in ``notes``; return
    the environment differences, the plugin differences and whether the environments
    are the same (so that bit-identical values can be expected)."""
    diffs = environment_differences(base.environment, new.environment)
    identity = [d for d in diffs if d.split(" ")[0] in IDENTITY_KEYS]
    same_env = not identity and bool(new.environment.get("deterministic"))
    if diffs:
        notes.insert(0, "environments differ: " + "; ".join(diffs) + (
            ". Results need not be bit-identical: the tolerances decide." if identity else
            "."))
    plugin_diffs = plugin_differences(base.plugins, new.plugins)
    if plugin_diffs:
        notes.insert(0, "plugin versions differ: " + "; ".join(plugin_diffs) + ".")
    return diffs, plugin_diffs, same_env


def _rule_notes(rows: list[Row], notes: list[str], new: Summary, *, n_paired: int,
                pairable: bool, same_env: bool) -> None:
    """Append to ``notes`` which rule compared the scores (paired or tolerance, and why)
    and, in the same CPU environment, how many values are bit-identical."""
    score_rows = [r for r in rows if r.score != "(model)"]
    if not score_rows:
        return
    if n_paired:
        notes.append(f"{n_paired} of {len(score_rows)} score(s) compared image by image "
                     "(paired bootstrap over the same images): a regression must be worse "
                     "than the tolerance's absolute part plus the seed spread, and its "
                     "paired 95 % interval must exclude 0; the others by tolerance.")
    elif not pairable:
        notes.append("no paired comparison (the two sides are not known to hold the same "
                     "images: data seeds or configurations differ, or one side is a "
                     "baseline of an older format): tolerances decide.")
    else:
        notes.append("no per-image scores on both sides (an old run folder or a baseline "
                     "without its .items.npz): tolerances decide.")
    device = str(new.environment.get("device"))
    if same_env and device.startswith("cpu"):
        n_same = sum(r.identical for r in score_rows)
        notes.append(f"same environment ({device}, torch {new.environment.get('torch')}, "
                     f"deterministic algorithms on): {n_same} of {len(score_rows)} values "
                     "bit-identical" + ("." if n_same == len(score_rows) else
                                        " (the code or the data changed, the number of "
                                        "torch threads differs, or something is "
                                        "nondeterministic)."))


def check_run(run: str | Path, baseline: str | Path, **kwargs: Any) -> Comparison:
    """Compare a run folder against a baseline file (or another run folder)."""
    return compare(load_summary(baseline), summarize_run(run), **kwargs)


def compare_runs(run_a: str | Path, run_b: str | Path, **kwargs: Any) -> Comparison:
    """Compare run ``run_b`` (new) against run ``run_a`` (reference); either may be a
    baseline file."""
    return compare(load_summary(run_a), load_summary(run_b), **kwargs)

