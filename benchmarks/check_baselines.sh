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
# Suites run side by side, one per core (ZSBENCH_SMOKE_JOBS overrides), each in its own
# process with its jobs one after another at one torch thread (`local --threads 1` scores bit
# for bit as the default pool at one thread per job, which is how the baselines were made).
jobs_max=${ZSBENCH_SMOKE_JOBS:-$(nproc 2>/dev/null || echo 1)}

check_one() {  # NAME: its report in $tmp/NAME.out, its exit codes in $tmp/NAME.rc
    local name=$1 start rc
    start=$(date +%s)
    : > "$tmp/$name.rc"
    {
        "$ZSBENCH" run "suites/$name.toml" --profile smoke --no-cache --executor local \
            --threads 1 --out "$tmp/$name" > "$tmp/$name.log" 2>&1
        rc=$?
        if [ "$rc" -ne 0 ]; then
            tail -n 40 "$tmp/$name.log"
            echo "check_baselines: $name: the smoke run exited $rc"
            echo "$rc" >> "$tmp/$name.rc"
            [ "$rc" -eq 3 ] || return 0   # 3: some jobs failed; `check` names them
        fi
        "$ZSBENCH" check "$tmp/$name" --baseline "results/baselines/$name-smoke.json"
        rc=$?
        echo "$rc" >> "$tmp/$name.rc"
        echo "check_baselines: $name: check exited $rc ($(( $(date +%s) - start )) s)"
    } > "$tmp/$name.out" 2>&1
}

for name in "${names[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done
    check_one "$name" &
done
wait
codes=()
for name in "${names[@]}"; do
    cat "$tmp/$name.out"
    echo
    while read -r rc; do codes+=("$rc"); done < "$tmp/$name.rc"
done
# 1 if anything regressed, else the largest other code (0 when every check passed)
worst=0
for rc in "${codes[@]}"; do
    [ "$rc" -eq 1 ] && exit 1
    [ "$rc" -gt "$worst" ] && worst=$rc
done
exit "$worst"
