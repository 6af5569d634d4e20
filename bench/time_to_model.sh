#!/usr/bin/env bash
# The wall time from "an unknown tote arrives" to "model-based picking starts", 2 cores: the first
# picks without a model (the shipped class-agnostic Mask R-CNN's masks), the part registered from views held
# by the arm, its synthetic bins, its segmentation (fine-tuned from the class-agnostic model) and pose network
# (the LB) trained, and the first picks with them. Every stage is stamped in WORKDIR/times.txt; rerun after a
# stop and finished stages are skipped (their time is kept). Prints the stages' wall times at the end and
# writes them to WORKDIR/time_to_model.json (bench/modelfree_report.py --time-to-model reads it).
#   bash bench/time_to_model.sh [PART] [WORKDIR]
# Env: SCENES (synthetic training scenes, default 200), SEG_EPOCHS / SEG_ITERS (default 2 x 250), LB_EPOCHS
# (default 2), ATTEMPTS (picks per pick stage, default 5), THREADS (torch threads, default all cores).
# The part's catalog entry goes to WORKDIR/catalog (BINPICK_CATALOG), never the user catalog.
set -euo pipefail
PART=${1:-spacer_ring}
WORK=${2:-runs/time_to_model/$PART}
NEW=unknown_$PART
BP=${BINPICK:-.venv/bin/binpick}
PY=${PYTHON:-.venv/bin/python}
THREADS_ARG=${THREADS:+--threads $THREADS}
ATTEMPTS=${ATTEMPTS:-5}
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
mkdir -p "$WORK"
export BINPICK_CATALOG=$(cd "$WORK" && pwd)/catalog
TIMES=$WORK/times.txt
touch "$TIMES"

# stage NAME CMD...: run CMD unless NAME finished before, and stamp its start and end
stage() {
  local name=$1
  shift
  if grep -q " $name done" "$TIMES"; then
    echo "$name: done before, kept"
    return
  fi
  echo "$(date -u +%s) $name start" >> "$TIMES"
  "$@"
  echo "$(date -u +%s) $name done" >> "$TIMES"
}

stage first_picks $BP pick-bench --object "$PART" --model-free --uois models/demo/uois_maskrcnn.pt \
  --no-ground-truth --no-baseline --attempts "$ATTEMPTS" --out "$WORK/first_picks" $THREADS_ARG
stage register $BP register --simulate "$PART" --name "$NEW" --catalog "$BINPICK_CATALOG"
stage bins $BP synth --object "$NEW" --domain synthetic --scenes "${SCENES:-200}" --test-scenes 4 \
  --out "$WORK/syn" --workers 2 --seed 11
stage segmentation $BP train-seg --data "$WORK/syn" --out "$WORK/seg.pt" --init models/demo/uois_maskrcnn.pt \
  --epochs "${SEG_EPOCHS:-2}" --max-iters-per-epoch "${SEG_ITERS:-250}" --val-images 20 --min-size 480 \
  --resume $THREADS_ARG
stage pose $BP train-pose --object "$NEW" --data "$WORK/syn" --out "$WORK/pose_lb.pt" --epochs "${LB_EPOCHS:-2}" \
  --resume $THREADS_ARG
stage model_picks $BP pick-bench --object "$NEW" --pose-ckpt "$WORK/pose_lb.pt" --seg "$WORK/seg.pt" \
  --no-ground-truth --attempts "$ATTEMPTS" --out "$WORK/model_picks" $THREADS_ARG

$PY - "$TIMES" "$WORK/time_to_model.json" "$PART" "${SCENES:-200}" "${SEG_EPOCHS:-2}" "${SEG_ITERS:-250}" \
  "${LB_EPOCHS:-2}" "$ATTEMPTS" <<'EOF'
import sys
from binpick.data import atomic
times, out, part, scenes, seg_epochs, seg_iters, lb_epochs, attempts = sys.argv[1:]
start, minutes = {}, {}
for line in open(times):
    stamp, name, what = line.split()
    if what == 'start':
        start[name] = int(stamp)
    elif name in start:
        minutes[name] = (int(stamp) - start.pop(name)) / 60
        print(f'{name:>14}: {minutes[name]:6.1f} min')
total = sum(minutes.values())
print(f'{"unknown tote to model-based picks":>14}: {total:.1f} min (sum of the stages)')
atomic.write_json(out, {'part': part, 'stages_min': minutes, 'total_min': total,
                        'settings': {'scenes': int(scenes), 'seg_epochs': int(seg_epochs), 'seg_iters': int(seg_iters),
                                     'lb_epochs': int(lb_epochs), 'attempts': int(attempts)}})
EOF
