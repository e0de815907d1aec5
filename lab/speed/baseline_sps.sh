#!/usr/bin/env bash
# Steady SPS of the baselines next to the WPPG scripts, on this machine, one run after another (README: Baselines).
#   bash lab/speed/baseline_sps.sh      # ~3 minutes; pause other work first for clean numbers
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d) && cd "$WORK"
run() {  # name, command...: run it in its own folder, print its SPS after learning starts
  local name=$1; shift
  mkdir -p $name && (cd $name && OMP_NUM_THREADS=1 "$@" --eval-frequency 100000 --log-frequency 100 > log.txt 2>&1)
  python - "$name" <<'PY'
import sys
from pathlib import Path
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
(d,) = (Path(sys.argv[1]) / "runs").iterdir()
acc = EventAccumulator(str(d)); acc.Reload()
ev = [e for e in acc.Scalars("charts/SPS") if e.step > 1100]
print(f"{sys.argv[1]}: {(ev[-1].step - ev[0].step) / (ev[-1].wall_time - ev[0].wall_time):.1f} SPS over steps {ev[0].step}-{ev[-1].step}")
PY
}
for env in InvertedPendulum-v5 Hopper-v5; do
  run sac-$env python $ROOT/baselines/sb3_continuous_action.py --algo sac --env-id $env --total-timesteps 3000 --learning-starts 1000
  run ppo-$env python $ROOT/baselines/sb3_continuous_action.py --algo ppo --env-id $env --total-timesteps 5000
  run wppg-$env python $ROOT/wppg_continuous_action.py --env-id $env --total-timesteps 1400 --learning-starts 1000
  run wppg_i-$env python $ROOT/wppg_implicit_continuous_action.py --env-id $env --total-timesteps 1400 --learning-starts 1000
done
