"""``zsbench run``: the command's work between its parsed arguments and ``run_suite`` (the
executor and cache from the options, the suite's variants, what is printed at the end).
Kept apart from :mod:`zsbench.cli`, which builds the parser and maps errors to exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zsbench.errors import ZsbenchError

if TYPE_CHECKING:
    from zsbench.jobs import JobResult
    from zsbench.registry import Registry
    from zsbench.suite import Suite

EXIT_OK, EXIT_JOBS_FAILED = 0, 3


def _registry() -> Registry:  # imported lazily so `zsbench --help` stays fast
    from zsbench.registry import Registry

    return Registry()


def cmd_run(args: argparse.Namespace) -> int:
    from zsbench.executors import keep_freed_memory
    from zsbench.run import run_suite
    from zsbench.suite import load_suite

    keep_freed_memory()  # this process is ours: training steps reuse freed memory
    registry = getattr(args, "registry", None) or _registry()  # the parser's, if it loaded one
    suite = load_suite(args.suite, profile=args.profile, registry=registry)
    _override(args, suite)
    if args.threads is not None and args.threads < 1:
        raise ZsbenchError(f"--threads {args.threads}: must be at least 1. Fix: e.g. "
                           "--threads 1 (or unset $ZSBENCH_THREADS).")
    if args.resume and args.out:
        raise ZsbenchError("give either --resume RUN_DIR or --out DIR, not both. Fix: "
                           "--resume continues a run folder; --out starts one.")
    executor = _executor(args, suite, registry)
    cache = _cache(args)
    if suite.variants:
        return _run_variants(args, suite, registry, executor, cache)
    if args.variant is not None:
        raise ZsbenchError(f"--variant {args.variant}: {args.suite} has no [variants]. Fix: "
                           "drop --variant.")
    outcome = run_suite(suite, registry=registry, results_root=Path(args.results),
                        run_dir=Path(args.resume or args.out) if (args.resume or args.out)
                        else None, resume=bool(args.resume), executor=executor, cache=cache,
                        threads=args.threads, force=args.force,
                        argv=["zsbench", *sys.argv[1:]])
    print()
    if getattr(args, "wide", False):  # the full table, as leaderboard.md holds it
        print(outcome.leaderboard)
    else:
        from zsbench.terminal_board import run_leaderboard_text

        print(run_leaderboard_text(outcome.results, outcome.run_dir, suite.leaderboard))
    print(f"\nrun folder: {outcome.run_dir}")
    if outcome.failed:
        report_failures(outcome.failed, args.verbose, str(outcome.run_dir / "metrics.json"))
        return EXIT_JOBS_FAILED
    return EXIT_OK


def report_failures(failed: Sequence[JobResult], verbose: int, where: str) -> None:
    """Say on stderr how many jobs failed and where their tracebacks are kept (each failed
    job's ``detail`` in ``metrics.json``); with ``-v``, print each one's traceback."""
    hint = "" if verbose else "; -v prints them"
    print(f"{len(failed)} job(s) failed; see the status column and {where} (a failed job's "
          f"traceback is its `detail` there{hint})", file=sys.stderr)
    if verbose:
        for r in failed:
            detail = (r.detail or "(no traceback: the job's worker ended without "
                      "reporting one)").rstrip()
            print(f"\n--- {r.label} (seed {r.seed}) failed: {r.error}\n{detail}",
                  file=sys.stderr)


def _override(args: argparse.Namespace, suite: Suite) -> None:
    """``--seeds`` and ``--no-outputs`` laid over a loaded suite."""
    from zsbench.suite import check_seeds

    if args.seeds is not None:
        try:
            seeds = [int(s) for s in args.seeds.split(",")]
        except ValueError:
            raise ZsbenchError(f"--seeds {args.seeds!r}: expected comma-separated integers. "
                               "Fix: e.g. --seeds 0,1,2.") from None
        check_seeds(seeds, lambda problem, fix: ZsbenchError(f"--seeds {args.seeds!r}: "
                                                              f"{problem} Fix: {fix}"))
        suite.seeds = seeds
    if args.no_outputs:
        suite.outputs = []  # scores only: the [[output]] plugins (pictures) are skipped


def _cache(args: argparse.Namespace) -> Any:
    """The dataset and model cache, or None (``--no-cache``, or an unusable folder)."""
    from zsbench.cache import Cache

    if args.no_cache:
        return None
    cache = Cache(Path(args.cache_dir) if args.cache_dir else None,
                  warn=logging.getLogger("zsbench.cache").warning)
    problem = cache.unusable()
    if problem:
        logging.getLogger("zsbench.cache").warning(
            "%s; running without the cache (--no-cache)", problem)
        return None
    return cache


def _run_variants(args: argparse.Namespace, suite: Suite, registry: Registry, executor: Any,
                  cache: Any) -> int:
    """A suite with ``[variants]``: one run per variant under one folder, one leaderboard."""
    from zsbench.run import check_out_dir, new_run_dir, run_suite
    from zsbench.variants import run_variants

    if args.resume:
        run_dir = Path(args.resume)
        if not run_dir.is_dir():
            raise ZsbenchError(f"--resume {run_dir}: no such folder. Fix: give the folder an "
                               "earlier run of this suite wrote.")
    elif args.out:
        run_dir = Path(args.out)
        check_out_dir(run_dir, suite, args.force)
    else:
        run_dir = new_run_dir(Path(args.results), suite)

    failed: list[JobResult] = []
    # variants side by side: one torch thread a job unless --threads says otherwise
    threads = args.threads or (1 if suite.variants_side_by_side > 1 else None)

    def one(variant: Suite, folder: Path, resume: bool) -> Any:
        _override(args, variant)
        outcome = run_suite(variant, registry=registry, run_dir=folder, resume=resume,
                            executor=executor, cache=cache, threads=threads,
                            force=args.force, argv=["zsbench", *sys.argv[1:]])
        failed.extend(outcome.failed)
        return outcome

    outcome = run_variants(suite, run_dir, registry=registry, run_one=one,
                           only=variant_names(args.variant, args.suite),
                           resume=bool(args.resume))
    print()
    print(outcome.text)
    print(f"\nrun folder: {run_dir} (a run per variant; variants.md, variants.png)")
    if outcome.failed:
        report_failures(failed, args.verbose, "each variant's metrics.json")
        return EXIT_JOBS_FAILED
    return EXIT_OK


def variant_names(given: str | None, suite_path: str) -> list[str] | None:
    """The names ``--variant a,b`` picks (None: every variant); one that names none (``,``
    or blanks) is refused rather than read as "every variant"."""
    if given is None:
        return None
    names = [v.strip() for v in given.split(",") if v.strip()]
    if not names:
        raise ZsbenchError(f"--variant {given!r}: names no variant. Fix: give the names of "
                           f"[variants.NAME] tables of {suite_path}, comma-separated, or "
                           "drop --variant to run every variant.")
    return names


def _executor(args: argparse.Namespace, suite: Suite, registry: Registry) -> Any:
    """The executor from --executor and its options (each executor's ``cli_options``) over
    the suite's [executor] table (whose options apply only when it names the same executor)."""
    table = dict(suite.executor)
    suite_name = table.pop("plugin", "pool")
    name = args.executor or suite_name
    if name != suite_name:
        table = {}
    try:
        accepted = registry.get("executor", name).cls.parameters()
    except ZsbenchError as exc:
        raise ZsbenchError(f"--executor {name}: {exc}. Fix: give one of the available "
                           "executors, or install the plugin that provides it.") from None
    for given in getattr(args, "executor_options", []):
        value = getattr(args, given.dest)
        if value is None:
            continue
        if name not in given.executors:
            raise ZsbenchError(f'{given.option.flag} does not apply to the "{name}" executor '
                               f"(it takes: {', '.join(accepted) or 'no options'}). Fix: drop "
                               "the option, or choose an executor that takes it (--executor "
                               f"{' or '.join(given.executors)}).")
        table[given.option.parameter] = value
    return registry.create("executor", name, table)

