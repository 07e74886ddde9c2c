"""Regression checks: compare two runs, or a run against a committed baseline.

This module re-exports the public names of the modules that hold them, so that
``from zsbench.compare import X`` keeps working:

- :mod:`zsbench.tolerances`: the ``[tolerances]`` table (:class:`Tolerance`, parsing,
  resolution) and :class:`ComparisonError`;
- :mod:`zsbench.summaries`: a run reduced to a :class:`Summary`, environment facts;
- :mod:`zsbench.baselines`: baseline files, written and read;
- :mod:`zsbench.comparison`: the comparison itself (rows, verdicts, the paired rule). Its
  docstring describes the rule;
- :mod:`zsbench.comparison_text`: its text format (:func:`format_comparison`).
"""
from __future__ import annotations

from zsbench.baselines import (
    BASELINE_FORMAT,
    baseline_items_path,
    baseline_scores,
    default_baseline_path,
    dump_baseline,
    load_baseline,
    load_summary,
    make_baseline,
    read_baseline_items,
    write_baseline,
    write_baseline_items,
)
from zsbench.comparison import (
    BETTER,
    FAILED,
    METRIC_FAILED,
    REGRESSION,
    REGRESSION_VERDICTS,
    SAME,
    UNDEFINED,
    WORSE_OK,
    Comparison,
    Row,
    check_run,
    compare,
    compare_runs,
    environment_differences,
    seed_allowance,
)
from zsbench.comparison_text import format_comparison
from zsbench.summaries import (
    ENV_KEYS,
    IDENTITY_KEYS,
    NON_EXPERIMENT_SECTIONS,
    OPTIONAL_ENV_KEYS,
    ModelSummary,
    ScoreSummary,
    Summary,
    environment_of,
    experiment_hash,
    plugin_differences,
    plugins_of,
    suite_tolerances,
    summarize_results,
    summarize_run,
)
from zsbench.tolerances import (
    BUILTIN_TOLERANCE,
    TOLERANCE_KEYS,
    ComparisonError,
    Tolerance,
    check_tolerance_keys,
    parse_tolerances,
    resolve_tolerance,
)

__all__ = [
    "BASELINE_FORMAT",
    "BETTER",
    "BUILTIN_TOLERANCE",
    "ENV_KEYS",
    "FAILED",
    "IDENTITY_KEYS",
    "METRIC_FAILED",
    "NON_EXPERIMENT_SECTIONS",
    "OPTIONAL_ENV_KEYS",
    "REGRESSION",
    "REGRESSION_VERDICTS",
    "SAME",
    "TOLERANCE_KEYS",
    "UNDEFINED",
    "WORSE_OK",
    "Comparison",
    "ComparisonError",
    "ModelSummary",
    "Row",
    "ScoreSummary",
    "Summary",
    "Tolerance",
    "baseline_items_path",
    "baseline_scores",
    "check_run",
    "check_tolerance_keys",
    "compare",
    "compare_runs",
    "default_baseline_path",
    "dump_baseline",
    "environment_differences",
    "environment_of",
    "experiment_hash",
    "format_comparison",
    "load_baseline",
    "load_summary",
    "make_baseline",
    "parse_tolerances",
    "plugin_differences",
    "plugins_of",
    "read_baseline_items",
    "resolve_tolerance",
    "seed_allowance",
    "suite_tolerances",
    "summarize_results",
    "summarize_run",
    "write_baseline",
    "write_baseline_items",
]
