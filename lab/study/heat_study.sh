#!/usr/bin/env bash
# The heat step's three-task check (docs/heat_step.md): pointwise against coupled matching, both scripts, 5 seeds,
# against SAC (SB3, alpha 0.2, lr 1e-3), through benchmark.sh. One chunk per call; rerunning resumes.
#   bash lab/study/heat_study.sh idp|idp-i|ip|reacher [workers per arm]
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-benchmark_runs/heat}
W=${2:-1}
SEEDS=(--num-seeds 5 --start-seed ${START_SEED:-1} --out "$OUT" --workers "$W")
BUDGET=(--learning-starts 1000 --no-cuda)
arms() {  # $1: script, $2: env id, $3: total steps, $4: eval frequency, then extra flags
  local script=$1 env=$2 steps=$3 every=$4; shift 4
  for m in pointwise coupled; do
    bash benchmark.sh --scripts "$script" --env-ids "$env" --tag "$m" "${SEEDS[@]}" \
      -- "${BUDGET[@]}" --total-timesteps "$steps" --eval-frequency "$every" --matching "$m" "$@" &
  done
  wait
}
case "${1:-}" in
  idp)  # WPPG and SAC on InvertedDoublePendulum-v5, 30k steps (where rank matching failed)
    bash benchmark.sh --scripts sac --env-ids InvertedDoublePendulum-v5 "${SEEDS[@]}" \
      -- "${BUDGET[@]}" --total-timesteps 30000 --eval-frequency 5000 --learning-rate 1e-3 &
    arms wppg_continuous_action.py InvertedDoublePendulum-v5 30000 5000
    wait ;;
  idp-i) arms wppg_implicit_continuous_action.py InvertedDoublePendulum-v5 30000 5000 --save-model ;;
  ip) arms wppg_continuous_action.py InvertedPendulum-v5 20000 2000 ;;
  reacher) arms wppg_continuous_action.py Reacher-v5 20000 2000 ;;
  *) echo "error: give a chunk: idp, idp-i, ip or reacher" >&2; exit 2 ;;
esac
