#!/usr/bin/env bash
# Regenerate the committed smoke baselines: results/baselines/SUITE-smoke.json for every
# suites/SUITE.toml that has a [profiles.smoke] (or only the suites named as arguments).
#
#   benchmarks/make_baselines.sh                        # all suites with a smoke profile
#   benchmarks/make_baselines.sh polar_hole             # one suite
#   benchmarks/make_baselines.sh --seed-spread polar_hole
#
# --seed-spread also trains seeds 1 and 2 (the run is resumed with --seeds 0,1,2 in a copy,
# so seed 0 is trained once) and records each score's spread between those 3 seeds in the
# baseline (`zsbench baseline --seed-spread`): a check with one seed then allows for
# another training trajectory instead of calling it a regression. It triples the cost.
#
# Run it on the CPU, from a clean checkout, after a change that is *meant* to move the
# numbers (a plugin, a suite, the training loop); review the diff of results/baselines/
# like code, and commit it with that change. `.ci/run` and the GitHub workflow check fresh
# smoke runs against these files with `zsbench check`.
set -euo pipefail
spread=0
if [ "${1:-}" = "--seed-spread" ]; then spread=1; shift; fi
source "$(dirname "$0")/smoke_env.sh"
if [ $# -gt 0 ]; then names=("$@"); else
    names=()
    for suite in suites/*.toml; do
        grep -q '^\[profiles\.smoke\]' "$suite" && names+=("$(basename "$suite" .toml)")
    done
fi
mkdir -p results/baselines
for name in "${names[@]}"; do
    suite="suites/$name.toml"
    [ -f "$suite" ] || { echo "make_baselines: no suite $suite" >&2; exit 2; }
    start=$(date +%s)
    "$ZSBENCH" run "$suite" --profile smoke --no-cache --no-outputs --out "$tmp/$name" > "$tmp/$name.log" 2>&1 || {
        cat "$tmp/$name.log" >&2; echo "make_baselines: $suite failed" >&2; exit 1; }
    extra=()
    if [ "$spread" -eq 1 ]; then
        cp -r "$tmp/$name" "$tmp/$name-seeds"
        "$ZSBENCH" run "$suite" --profile smoke --no-cache --no-outputs --seeds 0,1,2 \
            --resume "$tmp/$name-seeds" > "$tmp/$name-seeds.log" 2>&1 || {
            cat "$tmp/$name-seeds.log" >&2; echo "make_baselines: $suite (3 seeds) failed" >&2; exit 1; }
        extra=(--seed-spread "$tmp/$name-seeds")
    fi
    "$ZSBENCH" baseline "$tmp/$name" --out "results/baselines/$name-smoke.json" "${extra[@]}"
    echo "make_baselines: $name in $(( $(date +%s) - start )) s"
done
