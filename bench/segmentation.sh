#!/usr/bin/env bash
# The segmentation figures of the README: data, training time, AP/AP50 on both domains, ms per frame.
#   bash bench/segmentation.sh [OBJECT] [WORKDIR]
# Makes (or reuses) a synthetic and a real-emulated dataset, trains on synthetic only, evaluates both.
set -euo pipefail
OBJ=${1:-zigzag_bracket}
WORK=${2:-runs/bench_seg_$OBJ}
BP=${BINPICK:-.venv/bin/binpick}
mkdir -p "$WORK"
$BP synth --object "$OBJ" --domain synthetic --scenes 60 --test-scenes 6 --out "$WORK/syn" --workers 2 --seed 1
$BP synth --object "$OBJ" --domain real --scenes 20 --test-scenes 8 --out "$WORK/real" --workers 2 --seed 2
start=$(date +%s)
$BP train-seg --data "$WORK/syn" --out "$WORK/seg.pt" --epochs 5 --val-images 20 --resume
echo "training wall time: $(( $(date +%s) - start )) s (includes per-epoch validation; 0 if it was already trained)"
$BP eval-seg --ckpt "$WORK/seg.pt" --data "$WORK/syn" --split test --json "$WORK/eval_syn.json"
$BP eval-seg --ckpt "$WORK/seg.pt" --data "$WORK/real" --split test --json "$WORK/eval_real.json"
