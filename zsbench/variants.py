"""Variants of a suite: one run per ``[variants.NAME]`` table, one leaderboard over all.

A variant overlays the suite the way a profile does (``dataset.image_size = 32``,
``holdout.low = {...}``, ``model.LABEL.KEY = ...``), so a sweep over what a single run
holds fixed (the dataset's size, the holdout's extent, the number of training images)
is one suite. Its reserved key ``axes`` (a table of numbers or strings) names the
variant's coordinates on the sweep (``axes = { N = 24, p = 0.2 }``): they become columns
of the combined leaderboard and the axes of its picture.

Each variant is written out as a complete suite file (the base suite with the overlay
laid over it, ``[variants]`` left out, named ``SUITE.VARIANT``) and run as an ordinary
run in ``RUN/VARIANT/``, so ``compare``, ``check``, ``report`` and ``--resume`` work on it
unchanged; a profile applies on top of each variant. ``RUN/`` holds the written suites
(``suites/``), ``variants.json`` (the index), ``variants.csv``/``variants.md`` (every
variant's leaderboard in one table), ``variants.png`` and ``report.html`` (the table and the
picture, with a link to each variant's own report).
"""
from __future__ import annotations

import json
import math
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w
from tabulate import tabulate

from zsbench.errors import SuiteError, ZsbenchError
from zsbench.profiles import overlay
from zsbench.registry import Registry
from zsbench.report import write_variants_report
from zsbench.results import (
    CONTROL_FAILED,
    MANIFEST,
    atomic_write_text,
    format_interval,
    leaderboard_frame,
    load_results,
    markdown_cell,
    write_json,
)
from zsbench.suite import Suite, _read, load_suite
from zsbench.suite_checker import _Checker, _type_name

INDEX = "variants.json"
#: The combined board's column naming, per row, the scores whose control failed.
CONTROL_COLUMN = "control_failed"
NOT_OVERRIDDEN = ("profiles", "variants", "suite")
#: What a variants run writes into its folder beside the variants' folders: no variant may
#: be named so (compared in lower case, for case-insensitive file systems).
RESERVED = frozenset({"suites", INDEX, "variants.csv", "variants.md", "variants.png",
                      "report.html", "zsbench-crash.log"})


@dataclass(frozen=True)
class Variant:
    """One ``[variants.NAME]`` of a suite: its ``name``, its coordinates ``axes``, the
    complete suite file ``path`` written for it and that file loaded (``suite``, with the
    base suite's profile)."""

    name: str
    axes: dict[str, Any]
    path: Path
    suite: Suite


@dataclass
class VariantsOutcome:
    """What :func:`run_variants` returns: the parent folder, the combined leaderboard
    (one row per variant x model; ``variant``, the axes, ``model``, ``status`` and the
    suite's leaderboard columns with their ``_lo``/``_hi``), its Markdown text and the
    number of failed jobs over all variants."""

    run_dir: Path
    board: pd.DataFrame
    text: str
    failed: int


def write_variants(suite: Suite, dest: Path, *, registry: Registry,
                   only: Sequence[str] | None = None) -> list[Variant]:
    """Write one complete suite file per variant into ``dest`` (``dest/VARIANT.toml``) and
    validate each with the suite's profile, before anything runs. ``only`` picks variants
    by name. Every problem is a :class:`SuiteError` naming the suite file and the
    variant."""
    if not suite.variants:
        raise SuiteError(str(suite.path), "variants", "this suite has no variants.",
                         "add [variants.NAME] tables, or run the suite as it is.")
    names = list(suite.variants)
    for name in names:
        if name.lower() in RESERVED:
            raise SuiteError(str(suite.path), f"variants.{name}", f"{name!r} is a reserved "
                             "name: each variant runs in RUN/VARIANT/, beside the files the "
                             f"variants run writes there ({', '.join(sorted(RESERVED))}).",
                             f"rename [variants.{name}] (e.g. {name.replace('.', '_')}_1).")
    unknown = [n for n in (only or []) if n not in names]
    if unknown:
        raise SuiteError(str(suite.path), f"variants.{unknown[0]}", "no such variant.",
                         f"variants defined: {', '.join(names)}.")
    check = _Checker(suite.path)
    _, raw = _read(suite.path)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        if only and name not in only:
            continue
        path, axes = _write_variant(check, raw, suite, name, dest, registry)
        try:
            loaded = load_suite(path, profile=suite.profile, registry=registry)
        except SuiteError as exc:
            raise SuiteError(str(suite.path), f"variants.{name}",
                             f"with this variant laid over the suite, [{exc.key}] is wrong: "
                             f"{exc.problem}", exc.fix) from None
        written.append(Variant(name=name, axes=axes, path=path, suite=loaded))
    return written


def _write_variant(check: _Checker, raw: dict[str, Any], suite: Suite, name: str, dest: Path,
                   registry: Registry) -> tuple[Path, dict[str, Any]]:
    """The base suite with ``[variants.NAME]`` laid over it, written as ``dest/NAME.toml``;
    returns that path and the variant's axes."""
    table = dict(suite.variants[name])
    axes = table.pop("axes", {})
    if not isinstance(axes, dict) or not all(
            isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in axes.values()):
        raise check.fail(f"variants.{name}.axes", f"expected a table of numbers or strings, "
                         f"got {_type_name(axes)} ({axes!r}).",
                         "e.g. axes = { N = 24, p = 0.2 }.")
    config = overlay(check, raw, table, f"variants.{name}", registry, exclude=NOT_OVERRIDDEN)
    config.pop("variants", None)
    config.setdefault("suite", {})["name"] = f"{suite.name}.{name}"
    header = (f"# Variant {name} of {suite.path} (axes: "
              f"{', '.join(f'{k} = {v}' for k, v in axes.items()) or 'none'}),\n"
              "# written by zsbench: the suite with [variants." + name + "] laid over it.\n")
    path = dest / f"{name}.toml"
    atomic_write_text(path, header + tomli_w.dumps(config))
    return path, dict(axes)


def naming_the_variant(suite: Suite, variant: Suite, work: Callable[[], Any]) -> Any:
    """``work()``; a :class:`SuiteError` it raises about a variant's written suite file (a
    temporary file while validating, ``RUN/suites/NAME.toml`` in a run) is told about the
    user's suite file and its ``[variants.NAME]`` table instead."""
    try:
        return work()
    except SuiteError as exc:
        if variant is suite or exc.path != str(variant.path):
            raise
        raise SuiteError(str(suite.path), f"variants.{variant.path.stem}", "with this variant "
                         f"laid over the suite, [{exc.key}] is wrong: {exc.problem}",
                         exc.fix) from None


def run_variants(suite: Suite, run_dir: Path, *, registry: Registry,
                 run_one: Callable[[Suite, Path, bool], Any],
                 only: Sequence[str] | None = None, resume: bool = False) -> VariantsOutcome:
    """Run every variant of ``suite`` (or those named in ``only``) into ``run_dir/VARIANT``
    with ``run_one(variant_suite, variant_dir, resume)`` (which returns a run outcome with
    ``failed``), then write the combined leaderboard. With ``resume``, a variant whose
    folder holds a manifest continues it; the others start. Variants start in the order of
    the suite file, ``suite.variants_side_by_side`` at a time (each in a thread of its
    own, driving its run's jobs); a failed job in one variant does not stop the others."""
    variants = write_variants(suite, run_dir / "suites", registry=registry, only=only)
    from zsbench.runner import prepare_data

    for variant in variants:  # every variant's splits checked before the first one runs
        if registry.get("dataset", variant.suite.dataset.plugin).cls.renderable:  # cheap
            naming_the_variant(suite, variant.suite, lambda s=variant.suite: prepare_data(
                s, registry, render=False))
    index: dict[str, Any] = {"suite": str(suite.path), "profile": suite.profile,
                             "columns": suite.leaderboard.get("columns"), "variants": []}
    entries: dict[str, dict[str, Any]] = {}
    writing = threading.Lock()  # variants side by side finish in any order

    def one(variant: Variant) -> int:
        folder = run_dir / variant.name
        outcome = run_one(variant.suite, folder, resume and (folder / MANIFEST).is_file())
        with writing:
            entries[variant.name] = {"name": variant.name, "axes": variant.axes,
                                     "suite": str(variant.path.relative_to(run_dir)),
                                     "run": variant.name, "failed_jobs": len(outcome.failed)}
            index["variants"] = [entries[v.name] for v in variants if v.name in entries]
            write_json(run_dir / INDEX, index)
        return len(outcome.failed)

    side = min(suite.variants_side_by_side, len(variants))  # load_suite checked it is >= 1
    if side == 1:
        failed = sum(one(variant) for variant in variants)
    else:
        failed = _side_by_side(suite, run_dir, variants, one, side)
    board = combined_board(run_dir, variants)
    headers, rows = combined_rows(board, index["columns"])
    text = format_combined(headers, rows)
    atomic_write_text(run_dir / "variants.csv", board.to_csv(index=False))
    atomic_write_text(run_dir / "variants.md", text + "\n")
    _picture(run_dir, board, variants,
             suite.leaderboard.get("sort") or next(iter(index["columns"] or
                                                        score_columns(board)), None))
    _write_report(run_dir, index, headers, rows)
    return VariantsOutcome(run_dir=run_dir, board=board, text=text, failed=failed)


def _side_by_side(suite: Suite, run_dir: Path, variants: Sequence[Variant],
                  one: Callable[[Variant], int], side: int) -> int:
    """``one(variant)`` for every variant, ``side`` at a time in daemon threads; returns the
    sum of what they return. The first error a variant raises is raised once the variants
    already started have finished; Ctrl-C stops waiting at once (each variant's run folder
    keeps what it finished, ``--resume`` continues them)."""
    from zsbench.errors import RunInterrupted
    from zsbench.runner import jobs_of
    from zsbench.torch_env import deterministic_algorithms

    todo: queue.SimpleQueue = queue.SimpleQueue()
    for variant in variants:
        todo.put(variant)
    done: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()

    def drive() -> None:
        try:
            while not stop.is_set():
                try:
                    variant = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put((one(variant), None))
                except BaseException as exc:  # handed to the main thread, which raises it
                    stop.set()  # no further variant starts
                    done.put((0, exc))
        finally:
            done.put(None)  # this thread is finished

    failed, errors, running = 0, [], side
    # deterministic algorithms are a process-wide switch: held here for every variant's
    # thread, so no run's exit turns them off under another
    with deterministic_algorithms():
        for i in range(side):
            threading.Thread(target=drive, daemon=True, name=f"zsbench-variant-{i}").start()
        try:
            while running:
                item = done.get()
                if item is None:
                    running -= 1
                    continue
                failed += item[0]
                if item[1] is not None:
                    errors.append(item[1])
        except KeyboardInterrupt:
            stop.set()
            raise RunInterrupted(str(suite.path), suite.profile, str(run_dir),
                                 _finished_jobs(run_dir, variants),
                                 sum(len(jobs_of(v.suite)) for v in variants)) from None
    if errors:
        raise errors[0]
    return failed


def _finished_jobs(run_dir: Path, variants: Sequence[Variant]) -> int:
    """How many jobs the variants' run folders record as finished (ok or failed)."""
    n = 0
    for variant in variants:
        try:
            manifest = json.loads((run_dir / variant.name / MANIFEST).read_text("utf-8"))
            n += len(manifest.get("jobs", []))
        except (OSError, ValueError, AttributeError):
            continue
    return n


def combined_board(run_dir: Path, variants: Sequence[Variant]) -> pd.DataFrame:
    """Every variant's ``leaderboard.csv`` in one frame: ``variant``, its axes, then the
    leaderboard's own columns (``model`` first) and ``control_failed``: the scores whose
    control that model failed in that variant, ``;``-separated (see
    :func:`zsbench.results.control_failed`)."""
    frames = []
    for variant in variants:
        path = run_dir / variant.name / "leaderboard.csv"
        if not path.is_file():
            raise ZsbenchError(f"{path}: missing, so variant {variant.name} has no "
                               "leaderboard. Fix: run it again with --resume.")
        frame = pd.read_csv(path).rename(columns={"label": "model"})
        control = leaderboard_frame(load_results(run_dir / variant.name)[1]).attrs.get(
            "control", {})
        frame[CONTROL_COLUMN] = [";".join(c for c, state in control.items()
                                          if state.get(label) == "failed")
                                 for label in frame["model"]]
        front = {"variant": variant.name, **variant.axes}
        for i, (k, v) in enumerate(front.items()):
            frame.insert(i, k, v)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def score_columns(board: pd.DataFrame) -> list[str]:
    """The scores of a combined board, in its order: the columns with an ``_lo`` bound."""
    return [c for c in board.columns if f"{c}_lo" in board.columns]


def combined_rows(board: pd.DataFrame, columns: Sequence[str] | None
                  ) -> tuple[list[str], list[list[str]]]:
    """The combined leaderboard as text: headers and a row per variant x model, each of
    ``columns`` (None: every score) as ``value [lo, hi]``, "(control failed)" after a
    score whose control that model failed, as in each variant's leaderboard (no best
    marks: the rows of different variants are no competitors)."""
    every = score_columns(board)
    scores = [c for c in columns if c in board.columns] if columns else every
    fixed = [c for c in board.columns if c not in every
             and c not in ("status", "seeds", CONTROL_COLUMN)
             and not c.endswith(("_lo", "_hi", "_std"))]
    rows = []
    for _, row in board.iterrows():
        line = [str(row[c]) for c in fixed]
        failed = row.get(CONTROL_COLUMN)
        failed = set(failed.split(";")) if isinstance(failed, str) else set()
        for c in scores:
            lo, hi = (float(row.get(f"{c}_lo", math.nan)), float(row.get(f"{c}_hi", math.nan)))
            mark = CONTROL_FAILED if c in failed and not math.isnan(float(row[c])) else ""
            line.append(format_interval(float(row[c]), lo, hi) + mark)
        line.append(str(row.get("status", "")))
        rows.append(line)
    return [*fixed, *scores, "status"], rows


def format_combined(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The combined leaderboard (:func:`combined_rows`) as a Markdown table."""
    if not rows:
        return "(no results)"
    return tabulate([[markdown_cell(c) for c in r] for r in rows], headers=list(headers),
                    tablefmt="github", disable_numparse=True)


def write_report(run_dir: Path) -> Path:
    """``report.html`` of a folder of variant runs, from its ``variants.json`` and
    ``variants.csv`` (what ``zsbench report RUN`` writes for such a folder)."""
    index = json.loads((run_dir / INDEX).read_text(encoding="utf-8"))
    board = pd.read_csv(run_dir / "variants.csv")
    return _write_report(run_dir, index, *combined_rows(board, index.get("columns")))


def _write_report(run_dir: Path, index: dict[str, Any], headers: Sequence[str],
                  rows: Sequence[Sequence[str]]) -> Path:
    title = f"zsbench: {Path(index['suite']).stem}" + (
        f" ({index['profile']})" if index.get("profile") else "") + ", variants"
    return write_variants_report(run_dir, title=title, headers=headers, rows=rows,
                                 variants=[v["name"] for v in index["variants"]])


def _picture(run_dir: Path, board: pd.DataFrame, variants: Sequence[Variant],
             score: str | None) -> None:
    """``variants.png``: ``score`` (the leaderboard's sort column, else its first) over
    the variants' numeric axes, one panel per model: a heat map over two axes (the value written in each cell), a line over one."""
    axes = [k for k in (variants[0].axes if variants else {})
            if all(isinstance(v.axes.get(k), (int, float)) for v in variants)]
    if not score or score not in board.columns or not 1 <= len(axes) <= 2:
        return
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    models = list(dict.fromkeys(board["model"]))
    fig = Figure(figsize=(4.4 * len(models), 3.6), dpi=110, facecolor="white")
    FigureCanvasAgg(fig)
    for k, model in enumerate(models):
        panel = fig.add_subplot(1, len(models), k + 1)
        rows = board[board["model"] == model]
        if len(axes) == 1:
            rows = rows.sort_values(axes[0])
            panel.plot(rows[axes[0]], rows[score], marker="o")
            panel.set_xlabel(axes[0])
            panel.set_ylabel(score)
        else:
            grid = rows.pivot_table(index=axes[1], columns=axes[0], values=score)
            values = grid.to_numpy()
            image = panel.imshow(values, origin="lower", aspect="auto", cmap="viridis")
            panel.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in grid.columns])
            panel.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in grid.index])
            low, high = image.get_clim()
            for (i, j), v in np.ndenumerate(values):
                if math.isfinite(v):  # dark text on the light end of viridis
                    light = high > low and (v - low) / (high - low) > 0.6
                    panel.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7,
                               color="black" if light else "white")
            panel.set_xlabel(axes[0])
            panel.set_ylabel(axes[1])
            fig.colorbar(image, ax=panel, label=score)
        panel.set_title(str(model))
    fig.tight_layout()
    fig.savefig(run_dir / "variants.png", format="png", facecolor="white")
