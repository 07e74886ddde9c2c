"""The ``zsbench`` command: a thin layer over the library.

Exit codes: 0 ok; 1 a regression or threshold failed; 2 a usage or configuration error;
3 the run finished but some model x seed jobs failed (they are in the leaderboard).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

from zsbench import __version__
from zsbench.errors import ZsbenchError

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, EXIT_JOBS_FAILED = 0, 1, 2, 3


def _registry():  # noqa: ANN202 - imported lazily so `zsbench --help` stays fast
    from zsbench.registry import Registry

    return Registry()


def cmd_plugins(args: argparse.Namespace) -> int:
    registry = _registry()
    rows = [[p.kind, p.name, p.distribution, p.version, p.summary] for p in registry.all()]
    print(tabulate(rows, headers=["kind", "name", "distribution", "version", "summary"],
                   tablefmt="simple"))
    if registry.broken:
        print("\nbroken plugins (not loaded):")
        for b in registry.broken:
            print(f"  {b.source} from {b.distribution} {b.version}: {b.error}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from zsbench.runner import prepare_data
    from zsbench.suite import load_suite

    registry = _registry()
    suite = load_suite(args.suite, profile=args.profile, registry=registry)
    data = prepare_data(suite, registry, render=False)
    counts = ", ".join(f"{k} {v}" for k, v in data.counts.items())
    print(f"{args.suite}: ok — suite {suite.name}, dataset {suite.dataset.plugin}, "
          f"{len(suite.models)} model(s) x {len(suite.seeds)} seed(s), "
          f"{len(suite.metrics)} metric(s), {len(suite.transects)} transect(s); splits: {counts}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from zsbench.run import run_suite
    from zsbench.suite import load_suite

    registry = _registry()
    suite = load_suite(args.suite, profile=args.profile, registry=registry)
    if args.seeds:
        suite.seeds = [int(s) for s in args.seeds.split(",")]
    outcome = run_suite(suite, registry=registry, results_root=Path(args.results),
                        run_dir=Path(args.out) if args.out else None,
                        argv=["zsbench", *sys.argv[1:]])
    print()
    print(outcome.leaderboard)
    print(f"\nrun folder: {outcome.run_dir}")
    if outcome.failed:
        print(f"{len(outcome.failed)} job(s) failed; see the status column and "
              f"{outcome.run_dir / 'metrics.json'}", file=sys.stderr)
        return EXIT_JOBS_FAILED
    return EXIT_OK


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from zsbench.results import format_leaderboard, leaderboard_frame, load_results

    manifest, results = load_results(Path(args.run_dir))
    columns = args.columns.split(",") if args.columns else None
    if columns is None:
        import tomllib

        suite_file = Path(args.run_dir) / "suite.toml"
        if suite_file.is_file():
            board_cfg = tomllib.loads(suite_file.read_text()).get("leaderboard", {})
            columns = board_cfg.get("columns")
    print(format_leaderboard(leaderboard_frame(results, columns), sort=args.sort))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zsbench",
        description="Benchmark generative models on zero-shot generation from holdout regions "
                    "of a known latent space.",
        epilog="exit codes: 0 ok, 1 regression or threshold failed, 2 usage or configuration "
               "error, 3 some model x seed jobs failed")
    parser.add_argument("--version", action="version", version=f"zsbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="train and evaluate every model of a suite")
    p.add_argument("suite", help="suite TOML file, e.g. suites/polar_hole.toml")
    p.add_argument("--profile", help="apply [profiles.NAME] of the suite (e.g. smoke)")
    p.add_argument("--seeds", help="comma-separated seeds overriding [suite].seeds")
    p.add_argument("--results", default="results/runs", help="where run folders go")
    p.add_argument("--out", help="exact run folder to write (default: a new one under --results)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check a suite without training anything")
    p.add_argument("suite")
    p.add_argument("--profile")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plugins", help="list every installed plugin")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("leaderboard", help="print the leaderboard of a run folder again")
    p.add_argument("run_dir")
    p.add_argument("--columns", help="comma-separated score names (default: the suite's)")
    p.add_argument("--sort", help="score to sort by")
    p.set_defaults(func=cmd_leaderboard)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ZsbenchError as exc:
        print(f"zsbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("zsbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
