#!/usr/bin/env bash
# The sim-to-real gap of one part on the physically based cell, into results/pbr/: the real_pbr dataset
# (bench/pbr_data.sh), the UB (segmentation and pose fine-tuned from the shipped LB on the train split's
# kept-apart ground truth), then every figure (bench/pbr_gap.py). Each step resumes after a stop.
#   bash bench/pbr_gap.sh [PART] [WORKDIR]        (default zigzag_bracket, runs/pbr/PART)
# Env: SEG_MIN_SIZE (the segmentation's input size; default 720 for zigzag_bracket, whose shipped model was
# trained at 720, else 480), UB_SEG_EPOCHS (2) of UB_SEG_ITERS (60) iterations, UB_POSE_EPOCHS (8), THREADS.
# Wall time on 2 cores: rendering about 16 min, UB segmentation 10-20 min, UB pose about 10 min, figures 5 min.
set -euo pipefail
OBJ=${1:-zigzag_bracket}
WORK=${2:-runs/pbr/$OBJ}
BP=${BINPICK:-.venv/bin/binpick}
PY=${PYTHON:-.venv/bin/python}
THREADS_ARG=${THREADS:+--threads $THREADS}
MIN_SIZE=${SEG_MIN_SIZE:-$([ "$OBJ" = zigzag_bracket ] && echo 720 || echo 480)}
SEG=models/demo/${OBJ}_seg.pt
LB=models/demo/${OBJ}_pose_lb.pt
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
stamp() { mkdir -p "$WORK"; echo "$(date -u +%FT%TZ) $*" >> "$WORK/times.txt"; }

stamp "data start"
bash bench/pbr_data.sh "$(dirname "$WORK")" "$OBJ"
stamp "data done"
$BP train-seg --data "$WORK/real_pbr" --use-eval-gt --init "$SEG" --out "$WORK/seg_ub.pt" \
  --epochs "${UB_SEG_EPOCHS:-2}" --max-iters-per-epoch "${UB_SEG_ITERS:-60}" --val-images 6 \
  --min-size "$MIN_SIZE" --resume $THREADS_ARG
stamp "UB segmentation done"
$BP train-pose --object "$OBJ" --data "$WORK/real_pbr" --use-eval-gt --init "$LB" --out "$WORK/pose_ub.pt" \
  --epochs "${UB_POSE_EPOCHS:-8}" --resume $THREADS_ARG
stamp "UB pose done"
$PY bench/pbr_gap.py --object "$OBJ" --work "$WORK" --seg "$SEG" --lb "$LB" --out results/pbr
stamp "figures done"
