#!/usr/bin/env bash
# The paper's grid: scripts x env ids x seeds, on this machine (N runs at once) or as one Slurm job array;
# then a results table and learning curves (benchmark_report.py). Run `bash benchmark.sh --help`.
set -uo pipefail
set -f  # no pathname expansion: --env-ids '*' or an --out with [ ] are names, not patterns

usage() {
  cat <<'EOF'
usage: bash benchmark.sh [options] [-- extra args for the runs (--report: for the report)]

  --scripts "A B"      scripts to run, in the repository or as paths (default: both WPPG scripts);
                       the baselines are "sac" and "ppo"
                       (Stable-Baselines3, baselines/sb3_continuous_action.py)
  --tag T              append T to the algorithm's name in run names (a variant: its flags go after --)
  --env-ids "A B"      env ids (default: the paper's six MuJoCo v5 tasks)
  --start-seed N       first seed (default 1)
  --num-seeds N        seeds per script and task (default 5, as in the paper)
  --out DIR            where runs, logs and results go (default benchmark_runs)
  --workers N          runs at once in local mode (default: number of cores), spread over the visible
                       GPUs
  --dry-run            print the commands of the runs still to do, run nothing
  --slurm              submit the grid as one Slurm job array instead of running it here
  --partition P        Slurm partition (default: the cluster's default)
  --time T             Slurm time limit per task (default 72:00:00); 10 minutes before it a run
                       checkpoints and requeues itself, so a longer run goes on in the next task
  --cpus N             Slurm CPUs per run (default 1; OMP_NUM_THREADS follows)
  --gpus N             Slurm GPUs per run (default 0)
  --report             only write the table and the figure from the runs in --out (args after -- go to
                       benchmark_report.py, e.g. -- --include OLD/evaluations.csv)

Args after -- go to every run whose script takes them (sac does not take --entropy-scale: a note says it
is left out of its runs); a flag no script takes is refused, and so are --seed, --env-id and --resume,
which the grid sets. Finished runs are skipped, so running the same command again reruns only what failed or never ran, and
continues stopped runs from their checkpoints. Ctrl-C stops every run with a checkpoint.
Example: bash benchmark.sh --num-seeds 3 -- --total-timesteps 1000000 --track --wandb-project-name wppg
Example: bash benchmark.sh --scripts "wppg_continuous_action.py sac" --env-ids InvertedPendulum-v5 --tag lam0.1 \
           -- --total-timesteps 20000 --learning-starts 1000 --entropy-scale 0.1
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # a --scripts tool imports run_utils and tools
SCRIPTS="wppg_continuous_action.py wppg_implicit_continuous_action.py"
ENV_IDS="Hopper-v5 Walker2d-v5 HalfCheetah-v5 Reacher-v5 Swimmer-v5 Humanoid-v5"
TAG="" START_SEED=1 NUM_SEEDS=5 OUT=benchmark_runs WORKERS=$(nproc) DRY_RUN=0 SLURM=0 REPORT_ONLY=0 TASK="" GRID=""
PARTITION="" TIME=72:00:00 CPUS=1 GPUS=0
die() { echo "error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --scripts|--env-ids|--tag|--start-seed|--num-seeds|--out|--workers|--partition|--time|--cpus|--gpus|--task|--grid)
      [ $# -ge 2 ] || die "$1 needs a value (bash benchmark.sh --help)"
      [[ $2 != --* ]] || die "$1 needs a value, got the option $2 (bash benchmark.sh --help)" ;;
  esac
  case "$1" in
    --scripts) SCRIPTS=$2; shift 2 ;;
    --env-ids) ENV_IDS=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    --start-seed) START_SEED=$2; shift 2 ;;
    --num-seeds) NUM_SEEDS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --slurm) SLURM=1; shift ;;
    --partition) PARTITION=$2; shift 2 ;;
    --time) TIME=$2; shift 2 ;;
    --cpus) CPUS=$2; shift 2 ;;
    --gpus) GPUS=$2; shift 2 ;;
    --report) REPORT_ONLY=1; shift ;;
    --task) TASK=$2; shift 2 ;;  # internal: run line TASK of the grid file --grid (the Slurm array)
    --grid) GRID=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option $1 (extra args for the runs go after --; see bash benchmark.sh --help)" ;;
  esac
done
for n in START_SEED NUM_SEEDS WORKERS CPUS GPUS; do
  [[ ${!n} =~ ^[0-9]+$ ]] || die "--$(echo "$n" | tr A-Z_ a-z-) must be a number, got '${!n}'"
done
for n in NUM_SEEDS WORKERS CPUS; do
  [ "${!n}" -ge 1 ] || die "--$(echo "$n" | tr A-Z_ a-z-) must be at least 1, got ${!n}"
done
[ "$NUM_SEEDS" -le 1000 ] || die "--num-seeds must be at most 1000, got $NUM_SEEDS"
[ $((START_SEED + NUM_SEEDS)) -le 4294000000 ] || die "--start-seed must leave the seeds below 2^32, got $START_SEED"
[[ $TAG =~ ^[A-Za-z0-9._+-]*$ ]] || die "--tag '$TAG' must be letters, digits and . _ + - only (it names folders)"
[ -n "${SCRIPTS// /}" ] || die "--scripts is empty; name a script, sac or ppo"
[ -n "${ENV_IDS// /}" ] || die "--env-ids is empty; name at least one env id"
[ -n "${OUT// /}" ] || die "--out is empty"
make_out() {  # --out, made once every check has passed: a refused grid leaves nothing behind
  if [ "$DRY_RUN" = 1 ] && [ ! -d "$OUT" ]; then  # a dry run creates nothing: an absent --out is empty
    OUT=$(realpath -m -- "$OUT")
  else
    mkdir -p "$OUT" 2>/dev/null && OUT=$(cd "$OUT" && pwd) || die "cannot create --out $OUT"
    [ "$DRY_RUN" = 1 ] || [ -w "$OUT" ] || die "cannot write to --out $OUT; choose a writable folder"
  fi
}

# One run = one line of this invocation's grid file, $OUT/grid[-TAG]-CHECKSUM.tsv (named by its content, so
# that two invocations on one --out, e.g. other seeds under the same --tag, never rewrite each other's):
# its name (= its folder under $OUT), a tab, its command.
# Each run works inside its own folder, so its TensorBoard files land in $OUT/<name>/runs/. Every run is
# started with --resume auto: a run stopped after a checkpoint (preemption, SIGTERM) continues from it.
run_one() {
  local name=$1 cmd=$2 dir="$OUT/$1"
  [[ $name == *__*__* ]] || { echo "FAIL (a run with no name: '$name')"; return 1; }
  if [ -f "$dir/done" ]; then echo "skip $name (finished)"; return 0; fi
  # one process per run folder: a second benchmark.sh on the same --out leaves a running run alone (the
  # lock is held by the run itself, so it lasts as long as the run does)
  if command -v flock > /dev/null; then
    exec {lock}> "$OUT/.$name.lock" && flock -n "$lock" \
      || { echo "FAIL $name: already running (another benchmark.sh on $OUT?)"; return 1; }
  fi
  # no checkpoint: start clean. find, not a glob: --out or a folder above it may hold [ ] * ? (o[1])
  [ -n "$(find "$dir/runs" -mindepth 2 -maxdepth 2 -name checkpoint.pt -print -quit 2> /dev/null)" ] \
    || rm -rf "${dir:?}"
  mkdir -p "$dir" && printf '%s\n' "$cmd" > "$dir/cmd"
  if [ -n "${LOCAL_GPUS:-}" ]; then  # local workers spread over the visible GPUs: the first one free
    local gpu slot
    for gpu in $LOCAL_GPUS; do
      exec {slot}> "$OUT/.gpu-$gpu.lock" && flock -n "$slot" && break  # held while this run lives
      exec {slot}>&-
    done
    export CUDA_VISIBLE_DEVICES=$gpu  # with more workers than GPUs, the last ones share
  fi
  # W&B (--track): the run's name with --tag, a group per task and algorithm, tags algorithm and commit
  local algo=${name%%__*} commit && commit=$(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo unknown)
  export WANDB_NAME=$name WANDB_RUN_GROUP=${name%__*} WANDB_TAGS="$algo,commit-$commit"
  if (cd "$dir" && eval "$cmd") >> "$dir/log.txt" 2>&1; then  # appended: a resumed run keeps its history
    touch "$dir/done"; echo "done $name"
  else
    echo "FAIL $name: $(tail -n 1 "$dir/log.txt") (log: $dir/log.txt)"; return 1
  fi
}

if [ -n "$TASK" ]; then
  make_out
  [ -f "$GRID" ] || die "--task needs --grid FILE, a grid file benchmark.sh wrote"
  IFS=$'\t' read -r name cmd < <(sed -n "${TASK}p" "$GRID")
  [ -n "${SLURM_JOB_ID:-}" ] || { run_one "$name" "$cmd"; exit $?; }
  # a Slurm task: USR1 (sbatch --signal, 10 minutes before --time) stops the run, which checkpoints,
  # and queues the task again; it resumes from that checkpoint
  requeue=""
  set -m; run_one "$name" "$cmd" & task=$!; set +m
  trap 'requeue=1; kill -TERM -- -$task 2> /dev/null' USR1
  wait $task; rc=$?
  while kill -0 $task 2> /dev/null; do wait $task; rc=$?; done  # a trapped USR1 ends wait early
  if [ -n "$requeue" ] && [ ! -f "$OUT/$name/done" ]; then
    echo "requeue $name: stopped before the time limit, checkpointed"
    scontrol requeue "$SLURM_JOB_ID" || { echo "error: scontrol requeue $SLURM_JOB_ID failed" >&2; exit 1; }
  fi
  exit $rc
fi
if [ "$REPORT_ONLY" = 1 ]; then make_out; exec "$PYTHON" "$ROOT/benchmark_report.py" "$OUT" "$@"; fi  # after --: the report's flags

# every env id is checked before any run starts (one line, as the scripts say it; what the simulator
# prints while it builds a task, e.g. MuJoCo's deprecation notes for HalfCheetah, is not shown)
checked=$("$PYTHON" - $ENV_IDS 2>&1 << 'EOF'
import sys
try:
    import run_utils
except ImportError as error:
    sys.exit(f"error: {sys.executable} lacks the project's packages ({error}); activate .venv or set PYTHON")
for env_id in sys.argv[1:]:
    run_utils.check_env(env_id)
EOF
) || { (grep '^error: ' <<< "$checked" || tail -n 1 <<< "$checked") | tail -n 1 >&2; exit 2; }
# the grid owns the seed, the env id and resuming: after -- they would silently override it
for arg in "$@"; do
  case "${arg%%=*}" in
    --seed|--env-id|--resume) die "${arg%%=*} after -- would override the grid's; use --start-seed, --num-seeds and --env-ids" ;;
  esac
done
runner() {  # the command of a script's runs: TARGET=(python file [args])
  case "$1" in  # the baselines run through one Stable-Baselines3 runner
    sac|ppo) algo=$1; target=("$ROOT/baselines/sb3_continuous_action.py" --algo "$1") ;;
    *) local path=$ROOT/$1; [ -f "$path" ] || path=$(realpath -- "$1" 2> /dev/null)  # or a copy elsewhere
       [ -f "$path" ] || die "no script $1 (in $ROOT or as a path; baselines: sac, ppo)"
       algo=$(basename "$path" .py); algo=${algo%_continuous_action}; target=("$path") ;;
  esac
}
# the flags after -- go to each runner that takes them: a flag one runner lacks (--entropy-scale for
# sac) is left out of its runs with a note; a flag that no runner takes is refused
declare -A TAKES
for script in $SCRIPTS; do
  runner "$script"
  TAKES[$script]=$("$PYTHON" "${target[0]}" --help 2> /dev/null | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u)
  for grid_flag in --env-id --seed --total-timesteps; do  # e.g. run_utils.py is no training script
    grep -qxF -- "$grid_flag" <<< "${TAKES[$script]}" \
      || die "--scripts $script: not a training script (its --help lists no $grid_flag)"
  done
done
for arg in "$@"; do
  [[ $arg == --* ]] || continue
  taken=0; for script in $SCRIPTS; do grep -qxF -- "${arg%%=*}" <<< "${TAKES[$script]}" && taken=1; done
  [ "$taken" = 1 ] || die "no script of the grid takes ${arg%%=*} (after --); see python SCRIPT --help"
done
routed() {  # routed SCRIPT ARGS...: ARGS without the flags (and their values) SCRIPT does not take
  local script=$1 keep=1 left=(); shift; ROUTED=()
  for arg in "$@"; do
    if [[ $arg == --* ]]; then
      keep=1; grep -qxF -- "${arg%%=*}" <<< "${TAKES[$script]}" || { keep=0; left+=("${arg%%=*}"); }
    fi
    [ "$keep" = 1 ] && ROUTED+=("$arg")
  done
  [ ${#left[@]} = 0 ] || echo "note: $script does not take ${left[*]}: left out of its runs" >&2
}

make_out
GRID_DIR=$OUT && [ "$DRY_RUN" = 1 ] && GRID_DIR=${TMPDIR:-/tmp}  # a dry run writes nothing in --out
GRID=$(mktemp "$GRID_DIR/.grid.XXXXXX") || die "cannot write to --out $OUT"
trap 'rm -f "$GRID"' EXIT
for script in $SCRIPTS; do
  runner "$script"
  routed "$script" "$@"
  [ -n "$TAG" ] && algo+="-$TAG"
  for env_id in $ENV_IDS; do
    for ((seed = START_SEED; seed < START_SEED + NUM_SEEDS; seed++)); do
      cmd=$(printf 'OMP_NUM_THREADS=%q %q' "$CPUS" "$PYTHON")$(printf ' %q' "${target[@]}")
      cmd+=$(printf ' --env-id %q --seed %q --resume auto' "$env_id" "$seed")
      [ ${#ROUTED[@]} -gt 0 ] && cmd+=$(printf ' %q' "${ROUTED[@]}")
      printf '%s\t%s\n' "${algo}__${env_id//[:\/]/_}__${seed}" "$cmd" >> "$GRID"  # one folder a run
    done
  done
done
# a run made with other flags, finished or stopped, is not this grid's: refuse rather than report it as new or
# continue it with these flags (a report would merge the two into one curve). Commands are
# compared with the python and script paths cut to their names, so that a moved checkout keeps its runs, and
# as a set of flags (each with its values), so that the same flags in another order match.
flags() {
  awk '{ for (i = 1; i <= 3; i++) { n = split($i, part, "/"); $i = part[n] }
         for (i = 1; i <= NF; i++) { if ($i ~ /^--/) k++; unit[k] = unit[k] " " $i }
         for (j = 0; j <= k; j++) print unit[j] }' <<< "$1" | LC_ALL=C sort
}
stale=0
while IFS=$'\t' read -r name cmd; do
  if [ -f "$OUT/$name/cmd" ] \
    && [ "$(flags "$(cat "$OUT/$name/cmd")")" != "$(flags "$cmd")" ]; then
    stale=$((stale + 1)); first=$name
  fi
done < "$GRID"
[ "$stale" = 0 ] || die "$stale run(s) in $OUT (finished or stopped) were made with other flags (e.g. $first: see its cmd file); use another --tag or --out"
total=$(wc -l < "$GRID")  # kept as a grid file only now: a refused grid leaves none
if [ "$DRY_RUN" = 0 ]; then
  named="$OUT/grid${TAG:+-$TAG}-$(cksum < "$GRID" | cut -d' ' -f1).tsv"
  mv "$GRID" "$named" && GRID=$named && trap - EXIT || die "cannot write $named"
fi

if [ "$DRY_RUN" = 1 ]; then
  while IFS=$'\t' read -r name cmd; do [ -f "$OUT/$name/done" ] || echo "$cmd"; done < "$GRID"
  exit 0
fi

if [ "$SLURM" = 1 ]; then
  command -v sbatch > /dev/null || { echo "error: --slurm needs sbatch on PATH" >&2; exit 2; }
  # --requeue: a preempted task is queued again and resumes from its checkpoint (the scripts checkpoint on
  # SIGTERM); --signal: USR1 to the task's shell (exec: benchmark.sh itself) 10 minutes before --time
  opts=(--job-name=wppg-grid --array="1-$total" --cpus-per-task="$CPUS" --time="$TIME" --requeue
        --signal=B:USR1@600 --output="$OUT/slurm-%A_%a.out" --chdir="$OUT")
  [ -n "$PARTITION" ] && opts+=(--partition="$PARTITION")
  [ "$GPUS" -gt 0 ] && opts+=(--gpus="$GPUS")
  job=$(sbatch --parsable "${opts[@]}" --wrap "exec bash $(printf %q "$ROOT/benchmark.sh") --out $(printf %q "$OUT") --grid $(printf %q "$GRID") --task \$SLURM_ARRAY_TASK_ID") \
    || { echo "error: sbatch failed" >&2; exit 1; }
  echo "submitted job array $job: $total runs (finished ones exit at once)"
  echo "follow it:     squeue -j $job    and    tail -f $OUT/*/log.txt"
  echo "when it ends:  bash $ROOT/benchmark.sh --out $OUT --report   (rerun the same --slurm command to retry failures)"
  exit 0
fi

todo=0 fresh=1  # nothing left to run and a report written after the last one finished: keep it
while IFS=$'\t' read -r name cmd; do
  [ -f "$OUT/$name/done" ] || todo=$((todo + 1))
  [ "$OUT/results.md" -nt "$OUT/$name/done" ] || fresh=0
done < "$GRID"
if [ "$todo" = 0 ] && [ "$fresh" = 1 ]; then
  echo "all $total runs had finished; the report in $OUT holds them (rewrite it: bash benchmark.sh --out $OUT --report)"
  exit 0
fi
echo "running $total runs, $WORKERS at a time; logs in $OUT/<run>/log.txt"
LOCAL_GPUS=${CUDA_VISIBLE_DEVICES-$(nvidia-smi --query-gpu=index --format=csv,noheader 2> /dev/null)}
LOCAL_GPUS=${LOCAL_GPUS//,/ }
export -f run_one && export OUT LOCAL_GPUS
start=$(date +%s)
# the runs get a process group of their own, so that a stop (Ctrl-C, or SIGTERM to this script) reaches
# every run, which checkpoints and exits, and starts no further run
set -m
xargs -d '\n' -n 2 -P "$WORKERS" bash -c 'run_one "$1" "$2"' _ < <(tr '\t' '\n' < "$GRID") &
runs=$! stopped=""
set +m
trap 'stopped=1; kill -TERM -- -$runs 2> /dev/null' INT TERM
wait $runs
while kill -0 -- -$runs 2> /dev/null; do sleep 1; done  # a stopped run finishes its checkpoint
if [ -n "$stopped" ]; then
  echo "stopped: the runs that had started saved checkpoints; rerun the same command to resume" >&2
  exit 130
fi
failed=()
while IFS=$'\t' read -r name cmd; do [ -f "$OUT/$name/done" ] || failed+=("$name"); done < "$GRID"
echo "wall time: $(( $(date +%s) - start )) s"
"$PYTHON" "$ROOT/benchmark_report.py" "$OUT" || echo "warning: the report failed" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "${#failed[@]} of $total runs failed:" >&2
  for name in "${failed[@]}"; do echo "  $name: $OUT/$name/log.txt" >&2; done
  echo "rerun the same command to retry only these" >&2
  exit 1
fi
