#!/usr/bin/env bash
# WPPG's learning rate and lambda on fresh seeds (21-25: never used by an earlier study), pointwise matching,
# InvertedPendulum-v5 and Reacher-v5 at 20k steps, through benchmark.sh (lab/experiments.md). One chunk per call;
# rerunning resumes what stopped and skips what finished.
#   bash lab/study/defaults_study.sh lr|lam [workers]
#   lr:  lr 3e-4 against lr 1e-3 (both at lambda 1e-4)
#   lam: lambda 0.02 and 0.2 at lr 1e-3 (lambda 1e-4 at lr 1e-3 is chunk lr's arm)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-benchmark_runs/defaults}
W=${2:-2}
RUN=(--env-ids "InvertedPendulum-v5 Reacher-v5" --start-seed 21 --num-seeds 5 --out "$OUT" --workers "$W")
WPPG=(--scripts wppg_continuous_action.py "${RUN[@]}")
# checkpoints every 5,000 steps: a stopped run resumes
BUDGET_WPPG=(--total-timesteps 20000 --learning-starts 1000 --eval-frequency 2000 --checkpoint-frequency 5000
  --no-cuda)
case "${1:-}" in
  lr)
    bash benchmark.sh "${WPPG[@]}" --tag lr3e-4-lam1e-4 -- "${BUDGET_WPPG[@]}" --policy-lr 3e-4 --q-lr 3e-4
    bash benchmark.sh "${WPPG[@]}" --tag lr1e-3-lam1e-4 -- "${BUDGET_WPPG[@]}" --policy-lr 1e-3 --q-lr 1e-3 ;;
  lam)
    bash benchmark.sh "${WPPG[@]}" --tag lr1e-3-lam0.02 -- "${BUDGET_WPPG[@]}" --entropy-scale 0.02
    bash benchmark.sh "${WPPG[@]}" --tag lr1e-3-lam0.2 -- "${BUDGET_WPPG[@]}" --entropy-scale 0.2 ;;
  *) echo "error: give a chunk: lr or lam" >&2; exit 2 ;;
esac
