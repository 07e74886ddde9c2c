#!/usr/bin/env bash
# Check fresh smoke runs against the committed baselines: for every
# results/baselines/SUITE-smoke.json, run suites/SUITE.toml --profile smoke and
# `zsbench check` it. Exit status: 0 all pass, 1 a regression, 2 a stale or unusable
# baseline (suite changed: regenerate with benchmarks/make_baselines.sh SUITE), 3 a job
# failed. Used by .ci/run and .github/workflows/ci.yml.
#
#   benchmarks/check_baselines.sh                # every suite with a smoke baseline
#   benchmarks/check_baselines.sh polar_hole     # some of them
set -uo pipefail
source "$(dirname "$0")/smoke_env.sh"
if [ $# -gt 0 ]; then names=("$@"); else
    names=()
    for b in results/baselines/*-smoke.json; do
        [ -e "$b" ] && names+=("$(basename "$b" -smoke.json)")
    done
fi
codes=()
for name in "${names[@]}"; do
    start=$(date +%s)
    "$ZSBENCH" run "suites/$name.toml" --profile smoke --no-cache --no-outputs --out "$tmp/$name" > "$tmp/$name.log" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -n 40 "$tmp/$name.log" >&2
        echo "check_baselines: $name: the smoke run exited $rc" >&2
        codes+=("$rc")
        [ "$rc" -eq 3 ] || continue   # 3: some jobs failed; `check` names them
    fi
    "$ZSBENCH" check "$tmp/$name" --baseline "results/baselines/$name-smoke.json"
    rc=$?
    codes+=("$rc")
    echo "check_baselines: $name: check exited $rc ($(( $(date +%s) - start )) s)"
    echo
done
# 1 if anything regressed, else the largest other code (0 when every check passed)
worst=0
for rc in "${codes[@]}"; do
    [ "$rc" -eq 1 ] && exit 1
    [ "$rc" -gt "$worst" ] && worst=$rc
done
exit "$worst"
