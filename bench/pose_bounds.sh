#!/usr/bin/env bash
# The pose figures of docs/perception.md: training time, LB, UB, synthetic-test recall, ms per instance.
#   bash bench/pose_bounds.sh [OBJECT] [WORKDIR]
# Env: SYN, REAL (datasets), SEG (segmentation checkpoint) to reuse existing ones; made here when missing.
# LB: trained on synthetic bins only. UB: LB fine-tuned on the real-emulated train split's evaluation ground
# truth. Both evaluated on the real-emulated test split with predicted masks.
set -euo pipefail
OBJ=${1:-zigzag_bracket}
WORK=${2:-runs/bench_pose_$OBJ}
BP=${BINPICK:-.venv/bin/binpick}
SYN=${SYN:-$WORK/syn}
REAL=${REAL:-$WORK/real}
SEG=${SEG:-$WORK/seg.pt}
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
mkdir -p "$WORK"
[ -d "$SYN" ] || $BP synth --object "$OBJ" --domain synthetic --scenes 60 --test-scenes 6 --out "$SYN" --workers 2 --seed 3
[ -d "$REAL" ] || $BP synth --object "$OBJ" --domain real --scenes 20 --test-scenes 8 --out "$REAL" --workers 2 --seed 2
[ -f "$SEG" ] || $BP train-seg --data "$SYN" --out "$SEG" --epochs 7 --resume

timed() {  # timed NAME command...: runs it and records its wall time
  local name=$1; shift
  local t0; t0=$(date +%s)
  "$@"
  echo "$name: $(( $(date +%s) - t0 )) s" >> "$WORK/times.txt"
}
: > "$WORK/times.txt"
timed "LB training (synthetic, default configuration)" \
  $BP train-pose --object "$OBJ" --data "$SYN" --out "$WORK/pose_lb.pt" --resume
timed "UB training (real-emulated train, evaluation GT, from LB)" \
  $BP train-pose --object "$OBJ" --data "$REAL" --use-eval-gt --init "$WORK/pose_lb.pt" --out "$WORK/pose_ub.pt" --resume

ev() {  # ev NAME CKPT DATA MASKS
  $BP eval-pose --ckpt "$2" --data "$3" --split test --masks "$4" --seg-ckpt "$SEG" \
    --md "$WORK/$1.md" --csv "$WORK/$1.csv"
}
ev lb_real_pred "$WORK/pose_lb.pt" "$REAL" predicted
ev ub_real_pred "$WORK/pose_ub.pt" "$REAL" predicted
ev lb_syn_pred "$WORK/pose_lb.pt" "$SYN" predicted
ev lb_real_gt "$WORK/pose_lb.pt" "$REAL" gt
ev ub_real_gt "$WORK/pose_ub.pt" "$REAL" gt
echo; cat "$WORK/times.txt"
for f in lb_real_pred ub_real_pred lb_syn_pred lb_real_gt ub_real_gt; do echo "== $f"; tail -n 1 "$WORK/$f.md"; done
