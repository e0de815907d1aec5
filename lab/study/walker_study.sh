#!/usr/bin/env bash
# The first of the paper's tasks at a longer budget (lab/experiments.md): Walker2d-v5, 100,000 steps, 5 seeds,
# evaluation every 5,000 steps, the paper's (64, 64) Tanh networks and gamma 0.99 (the per-task table), through
# benchmark.sh. One chunk per call; rerunning resumes what stopped (WPPG runs from their checkpoints, written
# every 5,000 steps; a baseline run starts again) and skips what finished.
#   bash lab/study/walker_study.sh ppo|sac|wppg|wppg-i|sac-harness [workers]
#   ppo          SB3 PPO (RL Zoo's MuJoCo settings, baselines/README.md)
#   sac          SB3 SAC, alpha fixed at 0.2, at WPPG's learning rate (1e-3)
#   wppg, wppg-i the two scripts at their defaults
#   sac-harness  SAC's actor loss and soft target inside WPPG's harness (lab/study/study_variants.py),
#                heat noise ~ 0: what WPPG inherits from the harness, against SB3's SAC
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-benchmark_runs/walker}
W=${2:-1}
RUN=(--env-ids Walker2d-v5 --start-seed ${START_SEED:-1} --num-seeds ${NUM_SEEDS:-5} --out "$OUT" --workers "$W")
BUDGET=(--total-timesteps 100000 --eval-frequency 5000 --no-cuda)
WPPG=("${BUDGET[@]}" --checkpoint-frequency 5000)
case "${1:-}" in
  ppo) bash benchmark.sh --scripts ppo "${RUN[@]}" -- "${BUDGET[@]}" ;;
  sac) bash benchmark.sh --scripts sac "${RUN[@]}" -- "${BUDGET[@]}" --learning-rate 1e-3 --ent-coef 0.2 ;;
  wppg) bash benchmark.sh --scripts wppg_continuous_action.py "${RUN[@]}" -- "${WPPG[@]}" ;;
  wppg-i) bash benchmark.sh --scripts wppg_implicit_continuous_action.py "${RUN[@]}" -- "${WPPG[@]}" ;;
  sac-harness)
    bash benchmark.sh --scripts lab/study/study_variants.py --tag sac-in-wppg-harness "${RUN[@]}" \
      -- "${WPPG[@]}" --entropy-scale 0.2 --eta 1e-6 --variants soft-target sac-actor ;;
  *) echo "error: give a chunk: ppo, sac, wppg, wppg-i or sac-harness" >&2; exit 2 ;;
esac
