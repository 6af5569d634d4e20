#!/usr/bin/env bash
# The teacher: datasets, the segmentation fine-tune, the UB, then every figure of
# results/teacher/ (bench/teacher.py). Every step is resumable: rerun the same command after a stop.
#   bash bench/teacher.sh [OBJECT] [WORKDIR]
# Env: SEG_EPOCHS (default 5), SEG_ITERS (iterations per epoch, default 250), SKIP_UB=1 to reuse the
# LB as the UB (no UB training), THREADS (torch threads, default all cores). A part without shipped models
# gets its segmentation fine-tuned from SEG_INIT (default: the shipped zigzag_bracket model; set it empty
# for ImageNet weights and raise SEG_EPOCHS) and its LB trained here (LB_EPOCHS, default 3 on 200 scenes).
# SEG_MIN_SIZE (default 480): the segmentation's input size (train-seg --min-size; the shipped
# zigzag_bracket model was fine-tuned at 720, see models/demo/README.md). SEG=CKPT: use this LB segmentation
# (e.g. the shipped one) instead of fine-tuning one here.
# The UB is both networks fine-tuned on the real train split's evaluation GT: the segmentation (UB_SEG_EPOCHS,
# default 2, of UB_SEG_ITERS, default 100, iterations) and the pose.
# Wall time on 2 cores (zigzag_bracket): datasets about 6 min, segmentation about 3.5 s per iteration at 480 px
# (about 2.5 times that at 720), UB pose about 30 min, evaluation about 20 min.
set -euo pipefail
OBJ=${1:-zigzag_bracket}
WORK=${2:-runs/teacher/$OBJ}
BP=${BINPICK:-.venv/bin/binpick}
PY=${PYTHON:-.venv/bin/python}
SEG_EPOCHS=${SEG_EPOCHS:-5}
SEG_ITERS=${SEG_ITERS:-250}
THREADS_ARG=${THREADS:+--threads $THREADS}
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
mkdir -p "$WORK"
stamp() { echo "$(date -u +%FT%TZ) $*" >> "$WORK/times.txt"; }

# 1. datasets: synthetic (training), real-emulated (one calibration for the cell), real_harsh (stress)
stamp "datasets start"
$BP synth --object "$OBJ" --domain synthetic --scenes 200 --test-scenes 6 --out "$WORK/syn" --workers 2 --seed 11
$BP synth --object "$OBJ" --domain real --scenes 20 --test-scenes 8 --out "$WORK/real" --workers 2 --seed 2
$BP synth --object "$OBJ" --domain real_harsh --scenes 1 --test-scenes 8 --out "$WORK/harsh" --workers 2 --seed 2
stamp "datasets done"

# 2. segmentation: the shipped model fine-tuned on the larger synthetic set (synthetic only: still the LB)
if [ -z "${SEG:-}" ]; then
  SEG=$WORK/seg.pt
  SHIPPED_SEG=models/demo/${OBJ}_seg.pt
  [ -f "$SHIPPED_SEG" ] || SHIPPED_SEG=${SEG_INIT-models/demo/zigzag_bracket_seg.pt}
  INIT_SEG=()
  [ -n "$SHIPPED_SEG" ] && INIT_SEG=(--init "$SHIPPED_SEG")
  $BP train-seg --data "$WORK/syn" --out "$SEG" "${INIT_SEG[@]}" --epochs "$SEG_EPOCHS" \
    --max-iters-per-epoch "$SEG_ITERS" --val-images 20 --min-size "${SEG_MIN_SIZE:-480}" --resume $THREADS_ARG
  stamp "segmentation done"
fi

# 3. pose: the LB is the shipped teacher (or, for a part without one, trained here on the synthetic set);
#    the UB is the LB fine-tuned on the real train split's evaluation GT
LB=models/demo/${OBJ}_pose_lb.pt
if [ ! -f "$LB" ]; then
  LB=$WORK/pose_lb.pt
  $BP train-pose --object "$OBJ" --data "$WORK/syn" --out "$LB" --epochs "${LB_EPOCHS:-3}" --resume $THREADS_ARG
  stamp "LB done"
fi
if [ -z "${SKIP_UB:-}" ]; then
  $BP train-seg --data "$WORK/real" --use-eval-gt --init "$SEG" --out "$WORK/seg_ub.pt" \
    --epochs "${UB_SEG_EPOCHS:-2}" --max-iters-per-epoch "${UB_SEG_ITERS:-100}" --val-images 8 \
    --min-size "${SEG_MIN_SIZE:-480}" --resume $THREADS_ARG
  stamp "UB segmentation done"
  $BP train-pose --object "$OBJ" --data "$WORK/real" --use-eval-gt --init "$LB" --out "$WORK/pose_ub.pt" \
    --resume $THREADS_ARG
  stamp "UB done"
fi

# 4. figures
$PY bench/teacher.py --object "$OBJ" --work "$WORK" --seg "$SEG" --lb "$LB" \
  ${SKIP_UB:+--no-ub} --out results/teacher
stamp "evaluation done"
