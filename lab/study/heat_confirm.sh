#!/usr/bin/env bash
# The heat-step study's confirmation and guards (lab/experiments.md §3.6), on seeds never used before (31-35),
# through benchmark.sh. One chunk per call; rerunning resumes what stopped (checkpoints every 5,000 steps) and
# skips what finished.
#   bash lab/study/heat_confirm.sh walker wppg|wppg-i pointwise|closed LAMBDA [workers]
#       Walker2d-v5, 100,000 steps, evaluation every 5,000 (the models saved, for lab/study/eval_latent)
#   bash lab/study/heat_confirm.sh guards wppg pointwise|closed LAMBDA [workers]
#       InvertedDoublePendulum-v5 at 10,000 steps, InvertedPendulum-v5 and Reacher-v5 at 20,000
#   START_SEED=31 NUM_SEEDS=5 (the seeds); OUT=benchmark_runs/heat_confirm; DRY_RUN=1 prints the commands;
#   K=8: K samples per state instead of the default 32 (runs tagged ...-k8), the study's K check
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-benchmark_runs/heat_confirm}
CHUNK=${1:-} ACTOR=${2:-} ARM=${3:-} LAM=${4:-} W=${5:-1}
fail() { echo "error: $1; e.g. bash lab/study/heat_confirm.sh walker wppg-i closed 5e-2" >&2; exit 2; }
[[ $CHUNK == walker || $CHUNK == guards ]] || fail "give a chunk: walker or guards"
[[ $ACTOR == wppg || $ACTOR == wppg-i ]] || fail "give the actor: wppg or wppg-i"
[[ $ARM == pointwise || $ARM == closed ]] || fail "give the matching: pointwise or closed"
[[ $LAM =~ ^[0-9.]+(e-?[0-9]+)?$ ]] || fail "give lambda as a number"
SEEDS=(--start-seed "${START_SEED:-31}" --num-seeds "${NUM_SEEDS:-5}" --out "$OUT" --workers "$W")
FLAGS=(--checkpoint-frequency 5000 --no-cuda --entropy-scale "$LAM")
[[ ${K:-32} =~ ^[1-9][0-9]*$ ]] || fail "K must be a positive whole number"
ksuf="" && [ "${K:-32}" = 32 ] || { FLAGS+=(--num-action-samples "$K"); ksuf="-k$K"; }
# run names: wppg-pointwise-lam1e-4__..., study_variants-wppg-i-closed-lam5e-2__... (benchmark.sh --tag)
script=wppg_continuous_action.py variants=(--variants closed-form-heat) tag="$ARM-lam$LAM$ksuf"
[ "$ACTOR" = wppg-i ] && script=wppg_implicit_continuous_action.py variants+=(implicit-actor)
[ "$ARM" = closed ] && script=lab/study/study_variants.py tag="$ACTOR-$tag" || variants=()
[ -n "${DRY_RUN:-}" ] && SEEDS+=(--dry-run)
run() {
  bash benchmark.sh --scripts "$script" --tag "$tag" "$@" -- "${FLAGS[@]}" "${EXTRA[@]}" "${variants[@]}"
}
case "$CHUNK" in
  walker) EXTRA=(--total-timesteps 100000 --eval-frequency 5000 --save-model)
          run --env-ids Walker2d-v5 "${SEEDS[@]}" ;;
  guards) [ "$ACTOR" = wppg ] || fail "the guards run WPPG (wppg)"
          EXTRA=(--total-timesteps 10000 --learning-starts 1000 --eval-frequency 1000)
          run --env-ids InvertedDoublePendulum-v5 "${SEEDS[@]}" || exit
          EXTRA=(--total-timesteps 20000 --learning-starts 1000 --eval-frequency 2000)
          run --env-ids "InvertedPendulum-v5 Reacher-v5" "${SEEDS[@]}" ;;
esac
