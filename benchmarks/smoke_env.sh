# Shared set-up of make_baselines.sh and check_baselines.sh (sourced, not run).
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ZSBENCH=${ZSBENCH:-.venv/bin/zsbench}
export MPLBACKEND=Agg
# Both scripts run with --no-cache: a cached model would skip training, and so hide a
# regression of the training code; smoke runs are small enough to train from scratch.
# One thread unless told otherwise: zsbench runs each job with --threads 1 already, and
# OMP_NUM_THREADS=1 pins numpy and scikit-learn too; the thread count changes the last
# bits of the results (baselines and checks made with the same count on the same machine
# are bit-identical).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
