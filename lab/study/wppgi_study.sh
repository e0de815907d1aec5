#!/usr/bin/env bash
# WPPG-I's pre-registered test (lab/experiments.md §3.7), on seeds no earlier study used, through benchmark.sh.
# One chunk per call; rerunning skips what finished and resumes what stopped (checkpoints every 5,000 steps).
#   bash lab/study/wppgi_study.sh reacher [QUEUE]   Reacher-v5, 20,000 steps: arms B (closed form), A (default),
#                                                     S (SAC) seed by seed, then L (closed form, latent 1)
#   bash lab/study/wppgi_study.sh walker [QUEUE]    Walker2d-v5, 100,000 steps: B, seeds 41-45, models saved
#   bash lab/study/wppgi_study.sh guards [QUEUE]    InvertedPendulum-v5 (20,000) and InvertedDoublePendulum-v5
#                                                     (10,000): A and B, seeds 41-45
#   QUEUE: "odd" or "even" runs only the odd or even seeds (two queues share the two cores), "all" (default)
#   OUT=benchmark_runs/wppgi_study; DRY_RUN=1 prints the commands
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-benchmark_runs/wppgi_study}
CHUNK=${1:-} QUEUE=${2:-all}
fail() { echo "error: $1; e.g. bash lab/study/wppgi_study.sh reacher odd" >&2; exit 2; }
[[ $CHUNK == reacher || $CHUNK == walker || $CHUNK == guards ]] || fail "give a chunk: reacher, walker or guards"
[[ $QUEUE == all || $QUEUE == odd || $QUEUE == even ]] || fail "the queue must be all, odd or even"
WPPGI=wppg_implicit_continuous_action.py
CLOSED=(--matching closed-form --entropy-scale 5e-2)
dry=() && [ -n "${DRY_RUN:-}" ] && dry=(--dry-run)
seeds() {  # the seeds from $1 to $2 in this queue
  for ((s = $1; s <= $2; s++)); do
    [[ $QUEUE == all || ($QUEUE == odd && $((s % 2)) == 1) || ($QUEUE == even && $((s % 2)) == 0) ]] && echo "$s"
  done
}
arm() {  # arm SCRIPT TAG ENV SEED FLAGS...
  local script=$1 tag=$2 env=$3 seed=$4; shift 4
  bash benchmark.sh --scripts "$script" ${tag:+--tag "$tag"} --env-ids "$env" --start-seed "$seed" \
    --num-seeds 1 --workers 1 --out "$OUT" "${dry[@]}" -- --no-cuda "$@"
}
case "$CHUNK" in
  reacher)
    BUDGET=(--total-timesteps 20000 --learning-starts 1000 --eval-frequency 2000)
    CKPT=(--checkpoint-frequency 5000)  # the SB3 runner keeps no checkpoint
    for s in $(seeds 41 50); do
      arm "$WPPGI" closed-lam5e-2 Reacher-v5 "$s" "${BUDGET[@]}" "${CKPT[@]}" "${CLOSED[@]}" || exit
      arm "$WPPGI" "" Reacher-v5 "$s" "${BUDGET[@]}" "${CKPT[@]}" || exit
      arm sac "" Reacher-v5 "$s" "${BUDGET[@]}" || exit
    done
    for s in $(seeds 41 50); do
      arm "$WPPGI" closed-lam5e-2-latent1 Reacher-v5 "$s" "${BUDGET[@]}" "${CKPT[@]}" "${CLOSED[@]}" \
        --latent-dim 1 || exit
    done ;;
  walker)
    for s in $(seeds 41 45); do
      arm "$WPPGI" closed-lam5e-2 Walker2d-v5 "$s" --total-timesteps 100000 --eval-frequency 5000 \
        --checkpoint-frequency 5000 --save-model "${CLOSED[@]}" || exit
    done ;;
  guards)
    for s in $(seeds 41 45); do
      for flags in "" "${CLOSED[*]}"; do
        tag="" && [ -n "$flags" ] && tag=closed-lam5e-2
        # shellcheck disable=SC2086  # $flags: the closed form's flags, split on purpose
        arm "$WPPGI" "$tag" InvertedDoublePendulum-v5 "$s" --total-timesteps 10000 --learning-starts 1000 \
          --eval-frequency 1000 --checkpoint-frequency 5000 $flags || exit
        # shellcheck disable=SC2086
        arm "$WPPGI" "$tag" InvertedPendulum-v5 "$s" --total-timesteps 20000 --learning-starts 1000 \
          --eval-frequency 2000 --checkpoint-frequency 5000 $flags || exit
      done
    done ;;
esac
