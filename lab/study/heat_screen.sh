#!/usr/bin/env bash
# The heat-step screen (lab/experiments.md §3.6): Walker2d-v5, 50,000 steps, evaluation every 5,000 steps,
# WPPG (explicit actor), matching pointwise (the script) or the heat step in closed form
# (lab/study/study_variants.py --variants closed-form-heat), at the lambdas given. One chunk per call;
# rerunning resumes what stopped (checkpoints every 5,000 steps) and skips what finished.
#   bash lab/study/heat_screen.sh pointwise|closed "LAMBDA ..." [workers]
#   START_SEED=1 NUM_SEEDS=3 (the screen's seeds); OUT=benchmark_runs/heat_screen
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-benchmark_runs/heat_screen}
LAMBDAS=${2:-}
W=${3:-1}
[ -n "$LAMBDAS" ] || { echo "error: give a chunk: pointwise|closed and the lambdas, e.g. closed \"1e-3 1e-2\"" >&2; exit 2; }
RUN=(--env-ids Walker2d-v5 --start-seed "${START_SEED:-1}" --num-seeds "${NUM_SEEDS:-3}" --out "$OUT" --workers "$W")
FLAGS=(--total-timesteps 50000 --eval-frequency 5000 --checkpoint-frequency 5000 --no-cuda)
for lam in $LAMBDAS; do
  case "${1:-}" in
    pointwise) bash benchmark.sh --scripts wppg_continuous_action.py --tag "pw-lam$lam" "${RUN[@]}" \
                 -- "${FLAGS[@]}" --entropy-scale "$lam" ;;
    closed) bash benchmark.sh --scripts lab/study/study_variants.py --tag "closed-lam$lam" "${RUN[@]}" \
              -- "${FLAGS[@]}" --entropy-scale "$lam" --variants closed-form-heat ;;
    *) echo "error: give a chunk: pointwise|closed and the lambdas, e.g. closed \"1e-3 1e-2\"" >&2; exit 2 ;;
  esac
done
