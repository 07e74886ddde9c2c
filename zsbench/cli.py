"""The ``zsbench`` command: a thin layer over the library.

Exit codes: 0 ok; 1 a regression or threshold failed; 2 a usage or configuration error;
3 the run finished but some model x seed jobs failed (they are in the leaderboard);
4 an internal error of zsbench or a plugin (a one-paragraph message; the traceback goes to a
log file); 130 interrupted, by Ctrl-C or SIGTERM (what finished is saved; the message says how
to resume).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tabulate import tabulate

from zsbench import __version__
from zsbench.errors import ExecutorOptionError, ZsbenchError
from zsbench.run_command import _executor, cmd_run  # noqa: F401  (_executor: for tests)

if TYPE_CHECKING:
    from zsbench.registry import Registry

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, EXIT_JOBS_FAILED, EXIT_INTERNAL = 0, 1, 2, 3, 4
WIDE_HELP = "print the full table (every column, full intervals), not one that fits the terminal"
CRASH_LOG = "zsbench-crash.log"


def _registry() -> Registry:  # imported lazily so `zsbench --help` stays fast
    from zsbench.registry import Registry

    return Registry()


def cmd_plugins(args: argparse.Namespace) -> int:
    registry = _registry()
    print(tabulate(registry.listing(), headers=["kind", "name", "distribution", "version",
                                                "depends on",
                                  "summary"], tablefmt="simple"))
    if registry.broken:
        print("\nbroken plugins (not loaded):")
        for b in registry.broken:
            print(f"  {b.source} from {b.distribution} {b.version}: {b.error}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    import tempfile

    from zsbench.runner import prepare_data
    from zsbench.suite import load_suite
    from zsbench.variants import naming_the_variant, write_variants

    registry = _registry()
    suite = load_suite(args.suite, profile=args.profile, registry=registry)
    suites = [suite]
    with tempfile.TemporaryDirectory() as folder:
        if suite.variants:  # every variant is validated as the suite it becomes
            suites = [v.suite for v in write_variants(suite, Path(folder), registry=registry)]
        for each in suites:
            data = naming_the_variant(suite, each, lambda s=each: prepare_data(
                s, registry, render=False))
    counts = ", ".join(f"{k} {v}" for k, v in data.counts.items())
    variants = f"{len(suite.variants)} variant(s), the last's " if suite.variants else ""
    print(f"{args.suite}: ok — suite {suite.name}, dataset {suite.dataset.plugin}, "
          f"{len(suite.models)} model(s) x {len(suite.seeds)} seed(s), "
          f"{len(suite.metrics)} metric(s), {len(suite.transects)} transect(s); "
          f"{variants}splits: {counts}")
    return EXIT_OK


def cmd_cache(args: argparse.Namespace) -> int:
    from zsbench.cache import Cache

    cache = Cache(Path(args.cache_dir) if args.cache_dir else None,
                  warn=lambda s: print(f"warning: {s}", file=sys.stderr))
    cache.check_root()
    for folder in cache.foreign():
        print(f"warning: {folder} is not a zsbench cache entry (no zsbench metadata); left "
              "alone", file=sys.stderr)
    if args.action == "clear":
        n = cache.clear(args.kind)
        print(f"removed {n} cache entr{'y' if n == 1 else 'ies'} from {cache.root}")
        return EXIT_OK
    entries = [e for e in cache.entries() if args.kind in (None, e.kind)]
    rows = [[e.kind, e.key[:12], f"{e.size / 1e6:.1f} MB", e.created, e.describe]
            for e in entries]
    print(f"cache: {cache.root}")
    print(tabulate(rows, headers=["kind", "key", "size", "created", "what"], tablefmt="simple")
          if rows else "(empty)")
    return EXIT_OK


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from zsbench.results import leaderboard_frame, load_results
    from zsbench.terminal_board import leaderboard_text
    from zsbench.suite import tomllib

    manifest, results = load_results(Path(args.run_dir))
    board_cfg: dict = {}
    suite_file = Path(args.run_dir) / "suite.toml"
    ignored = "its [leaderboard] settings (columns, sort) are ignored"
    if suite_file.is_file():
        try:
            board_cfg = tomllib.loads(suite_file.read_text(encoding="utf-8")).get(
                "leaderboard", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            print(f"warning: {suite_file} is damaged ({type(exc).__name__}); {ignored}",
                  file=sys.stderr)
        if not isinstance(board_cfg, dict):
            print(f"warning: {suite_file}: [leaderboard] is no table; {ignored}",
                  file=sys.stderr)
            board_cfg = {}
    else:
        print(f"warning: {suite_file} is missing; the suite's [leaderboard] settings are "
              "unknown, so the headline scores are shown", file=sys.stderr)
    columns = _names(args.columns) or board_cfg.get("columns")
    if columns is not None and not (isinstance(columns, list)
                                    and all(isinstance(c, str) for c in columns)):
        print(f"warning: {suite_file}: [leaderboard] columns is no list of score names; the "
              "headline scores are shown", file=sys.stderr)
        columns = None
    sort = args.sort or board_cfg.get("sort")
    if sort is not None and not isinstance(sort, str):
        print(f"warning: {suite_file}: [leaderboard] sort is no score name; ignored",
              file=sys.stderr)
    frame = leaderboard_frame(results, columns, run_dir=Path(args.run_dir))
    known = sorted({n for r in results for n in r.scores})
    for name in [*(columns or []), *([args.sort] if args.sort else [])]:
        if results and name not in known:
            from zsbench.errors import did_you_mean

            guess = did_you_mean(name, known)
            hint = f'did you mean "{guess}"? ' if guess else ""
            raise ZsbenchError(f'{args.run_dir}: no score "{name}" in this run. Fix: '
                               f"{hint}scores: {', '.join(known)}.")
    print(leaderboard_text(frame, sort=sort if isinstance(sort, str) else None, wide=args.wide))
    return EXIT_OK


def cmd_site(args: argparse.Namespace) -> int:
    from zsbench.site import site_command

    return site_command([Path(d) for d in args.run_dirs], Path(args.out))


def cmd_report(args: argparse.Namespace) -> int:
    from zsbench.report import write_report
    from zsbench.variants import INDEX
    from zsbench.variants import write_report as write_variants_report

    run_dir = Path(args.run_dir)
    if (run_dir / INDEX).is_file():  # a folder of variant runs: the page over them
        path = write_variants_report(run_dir)
    else:
        path = write_report(run_dir, embed=not args.link)
    print(f"wrote {path}")
    return EXIT_OK


# -- regression checks (logic in zsbench/compare.py) -------------------------------------
def _names(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def cmd_compare(args: argparse.Namespace) -> int:
    from zsbench.compare import compare_runs, format_comparison

    cmp = compare_runs(args.run_a, args.run_b, scores=_names(args.scores),
                       all_scores=args.all_scores, allow_suite_change=args.allow_suite_change)
    print(format_comparison(cmp))
    cmp.raise_for_regressions()
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from zsbench.compare import check_run, format_comparison

    cmp = check_run(args.run_dir, args.baseline, scores=_names(args.scores),
                    allow_suite_change=args.allow_suite_change)
    print(format_comparison(cmp))
    cmp.raise_for_regressions()
    return EXIT_OK


def cmd_baseline(args: argparse.Namespace) -> int:
    from zsbench.compare import default_baseline_path, write_baseline

    out = Path(args.out) if args.out else default_baseline_path(args.run_dir)
    data = write_baseline(args.run_dir, out, all_scores=args.all_scores,
                          scores=_names(args.scores), seed_spread=args.seed_spread)
    print(f"wrote {out}: {len(data['models'])} model(s) x {len(data['scores'])} score(s), "
          f"suite {data['suite']['name']}"
          + (f" (profile {data['suite']['profile']})" if data["suite"]["profile"] else "")
          + f", device {data['environment']['device']}")
    return EXIT_OK
# -- end of regression checks --------------------------------------------------------------


def _env_threads() -> int | None:
    """``$ZSBENCH_THREADS``, or None (unset: the executor's layout decides)."""
    value = os.environ.get("ZSBENCH_THREADS", "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        print(f"zsbench: warning: ZSBENCH_THREADS={value!r} is not an integer; the "
              "executor's layout decides", file=sys.stderr)
        return None


class _CommandParser(argparse.ArgumentParser):
    """A command's parser that adds the options of ``late`` (e.g. the executors' options)
    only when it parses or shows its help: they need the plugins loaded, which takes
    seconds that ``zsbench --help`` and the other commands need not pay."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.late: list[Callable[[argparse.ArgumentParser], None]] = []

    def parse_known_args(self, args: Sequence[str] | None = None,
                         namespace: argparse.Namespace | None = None,
                         ) -> tuple[argparse.Namespace, list[str]]:
        while self.late:
            self.late.pop(0)(self)
        return super().parse_known_args(args, namespace)


def _add_executor_options(parser: argparse.ArgumentParser) -> None:
    """The installed executors' ``cli_options``: one argument group per executor (or per
    executors sharing flags: "pool and process executor options"). The registry and the
    options ride on the parsed arguments (``registry``, ``executor_options``)."""
    from zsbench.executors import command_options

    registry = _registry()
    options = command_options(registry)
    groups: dict[tuple[str, ...], Any] = {}
    for given in options:
        names = given.executors
        if names not in groups:
            title = " and ".join([", ".join(names[:-1]), names[-1]] if names[:-1] else names)
            groups[names] = parser.add_argument_group(f"{title} executor options")
        flag = given.option.flag
        try:
            groups[names].add_argument(flag, dest=given.dest, type=given.option.type,
                                       help=given.option.help,
                                       metavar=flag.lstrip("-").replace("-", "_").upper())
        except argparse.ArgumentError:
            raise ExecutorOptionError(flag, f"executor(s) {', '.join(names)} declare it, but "
                                      f"it is an option of `zsbench {parser.prog.split()[-1]}` "
                                      "itself.", "rename the flag in the executor's "
                                      "cli_options.") from None
    parser.set_defaults(registry=registry, executor_options=options)


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="train and evaluate every model of a suite")
    p.add_argument("suite", help="suite TOML file, e.g. suites/polar_hole.toml")
    p.add_argument("--profile", help="apply [profiles.NAME] of the suite (e.g. smoke)")
    p.add_argument("--seeds", help="comma-separated seeds overriding [suite].seeds")
    p.add_argument("--results", default="results/runs", help="where run folders go")
    p.add_argument("--out", help="exact run folder to write (default: a new one under --results)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run: finished jobs are kept, the rest run")
    p.add_argument("--executor", help="pool (default: the whole machine), local, or another "
                                      "installed executor (zsbench plugins lists them)")
    p.add_argument("--threads", type=int, default=_env_threads(),
                   help="torch threads per job (default: the executor lays the jobs on every "
                        "core, or $ZSBENCH_THREADS); results are bit-identical only at the "
                        "same count")
    p.add_argument("--no-cache", action="store_true",
                   help="neither read nor write the dataset and model cache")
    p.add_argument("--no-outputs", action="store_true",
                   help="skip the suite's [[output]] plugins (the pictures): scores only, "
                        "e.g. for regression checks in CI")
    p.add_argument("--cache-dir", help="cache folder (default: $ZSBENCH_CACHE_DIR or "
                                       "~/.cache/zsbench)")
    p.add_argument("--force", action="store_true",
                   help="with --out: write into an existing folder that holds another run")
    p.add_argument("--variant", help="comma-separated names of the suite's [variants.NAME] "
                                     "to run (default: every variant)")
    p.add_argument("--wide", action="store_true", help=WIDE_HELP)
    p.late.append(_add_executor_options)
    p.set_defaults(func=cmd_run)


def _add_inspection(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands that look at the cache, a suite, the plugins or a run folder."""
    p = sub.add_parser("cache", help="list or clear cached datasets and trained models")
    p.add_argument("action", choices=["ls", "clear"])
    p.add_argument("--kind", choices=["datasets", "models"])
    p.add_argument("--cache-dir")
    p.set_defaults(func=cmd_cache)

    p = sub.add_parser("validate", help="check a suite (each of its variants) without "
                                        "training anything")
    p.add_argument("suite")
    p.add_argument("--profile")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plugins", help="list every installed plugin")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("leaderboard", help="print the leaderboard of a run folder again")
    p.add_argument("run_dir")
    p.add_argument("--columns", help="comma-separated score names (default: the suite's)")
    p.add_argument("--sort", help="score to sort by")
    p.add_argument("--wide", action="store_true", help=WIDE_HELP)
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("site", help="one static site (index.html) over run folders: a "
                       "leaderboard per suite over every run, interval plots, their reports")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", required=True, help="the site's folder (new, or an earlier site)")
    p.set_defaults(func=cmd_site)

    p = sub.add_parser("report", help="(re)build RUN_DIR/report.html: leaderboard, scores, "
                       "pictures; one self-contained file")
    p.add_argument("run_dir")
    p.add_argument("--link", action="store_true",
                   help="link the pictures relatively instead of embedding them")
    p.set_defaults(func=cmd_report)


def _add_regression_checks(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """compare, check and baseline (logic in zsbench/compare.py)."""
    p = sub.add_parser("compare", help="compare two runs score by score under the suite's "
                       "tolerances (exit 1 on a regression)")
    p.add_argument("run_a", help="reference: a run folder or a baseline JSON file")
    p.add_argument("run_b", help="new: a run folder (or a baseline JSON file)")
    p.add_argument("--scores", help="comma-separated score names (default: headline scores "
                   "and the leaderboard's columns)")
    p.add_argument("--all-scores", action="store_true", help="compare every score")
    p.add_argument("--allow-suite-change", action="store_true",
                   help="compare even if the suites differ (shared models and scores only)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("check", help="check a run against a baseline file (exit 1 on a "
                       "regression)")
    p.add_argument("run_dir", help="the run folder to check")
    p.add_argument("--baseline", required=True, help="baseline JSON (zsbench baseline) or a "
                   "reference run folder")
    p.add_argument("--scores", help="comma-separated score names (default: the baseline's)")
    p.add_argument("--allow-suite-change", action="store_true",
                   help="check even if the suite changed (shared models and scores only)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("baseline", help="write a compact baseline JSON of a run")
    p.add_argument("run_dir")
    p.add_argument("--out", help="baseline file (default: results/baselines/SUITE-PROFILE.json)")
    p.add_argument("--all-scores", action="store_true",
                   help="keep every score (default: headline scores and leaderboard columns)")
    p.add_argument("--scores", help="comma-separated score names to keep")
    p.add_argument("--seed-spread", metavar="RUN_DIR", help="a run of the same suite with 3 "
                   "seeds or more: its spread between seeds is recorded, so that a check "
                   "with one seed allows for it")
    p.set_defaults(func=cmd_baseline)


def build_parser() -> argparse.ArgumentParser:
    """The ``zsbench`` parser. The executors' options (``cli_options``) join ``run`` when
    it parses, so only ``run`` loads the plugins to build its parser."""
    parser = argparse.ArgumentParser(
        prog="zsbench",
        description="Benchmark generative models on zero-shot generation from holdout regions "
                    "of a known latent space.",
        epilog="exit codes: 0 ok, 1 regression or threshold failed, 2 usage or configuration "
               "error, 3 some model x seed jobs failed, 4 internal error (traceback in a log file), "
               "130 interrupted (resume with --resume)")
    parser.add_argument("--version", action="version", version=f"zsbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_CommandParser)
    _add_run(sub)
    _add_inspection(sub)
    _add_regression_checks(sub)
    for p in sub.choices.values():  # on every command: zsbench run -q SUITE
        p.add_argument("-v", "--verbose", action="count", default=0,
                       help="more messages (debug details)")
        p.add_argument("-q", "--quiet", action="count", default=0,
                       help="fewer messages: warnings and errors only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except ZsbenchError as exc:  # the plugins behind `run`'s options: two clash, say
        print(f"zsbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    from zsbench.log import configure

    configure(args.verbose - args.quiet)
    try:
        with _sigterm_interrupts():
            return int(args.func(args))
    except ZsbenchError as exc:
        print(f"zsbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("zsbench: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # files and folders: permissions, a file where a folder belongs
        name = exc.filename if exc.filename is not None else "a file"
        other = f" -> {exc.filename2}" if exc.filename2 else ""
        print(f"zsbench: error: {name}{other}: {exc.strerror or exc}. Fix: check that the "
              "path exists, is of the right kind (file or folder) and that you may read or "
              "write it.", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print(f"zsbench: error: out of memory. Fix: in {getattr(args, 'suite', 'the suite')}, "
              "lower the [dataset] table's size (n_samples, n_per_class, ... as the dataset "
              "names it) or image_size, or the models' batch_size.", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # an internal error: a short message, the traceback in a file
        return _internal_error(args, exc)


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Treat SIGTERM (``kill``, a CI job's timeout, a scheduler) as Ctrl-C while the command
    runs: a run saves what finished and says how to resume, and its workers stop."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _internal_error(args: argparse.Namespace, exc: Exception) -> int:
    """Write the traceback to a log file (in the run folder when there is one) and print one
    paragraph; exit 4, which no expected failure uses."""
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    where = None
    folders = [getattr(exc, "zsbench_run_dir", None), getattr(args, "resume", None),
               getattr(args, "out", None), getattr(args, "run_dir", None)]
    folders = [Path(f) for f in folders if f and Path(f).is_dir()]
    for folder in [*folders, Path(tempfile.gettempdir())]:
        try:
            where = folder / CRASH_LOG
            with open(where, "a", encoding="utf-8") as fh:
                fh.write(f"zsbench {__version__} {' '.join(sys.argv)}\n{text}\n")
            break
        except OSError:
            where = None
    print(f"zsbench: internal error: {type(exc).__name__}: {exc}. This is a bug in zsbench or "
          f"in a plugin, not in your input; the traceback is in "
          f"{where or '(no writable place for a log)'}. Please report it with that file.",
          file=sys.stderr)
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
