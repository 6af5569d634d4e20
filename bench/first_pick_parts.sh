#!/usr/bin/env bash
# The first pick on every built-in catalog part (none of them in the training shapes of the
# class-agnostic Mask R-CNN or of the grasp-quality model): the shipped model-free pipeline, 50 executed picks
# per part and bin, one pick-bench run per part and seed in OUT/PART_sSEED (finished runs are skipped, so a
# stopped run resumes). Two parallel lanes, one torch thread each. Then `python bench/modelfree_report.py
# --parts OUT` pools them per part.
#   bash bench/first_pick_parts.sh [OUT]
# Env: SEEDS (default "0 1"), PARTS (default: the seven built-in parts), ATTEMPTS (default 50).
set -euo pipefail
OUT=${1:-results/picking_model_free_parts}
BP=${BINPICK:-.venv/bin/binpick}
SEEDS=${SEEDS:-0 1}
PARTS=${PARTS:-connector_block eye_bolt hex_nut spacer_ring spur_gear tube_fitting zigzag_bracket}
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
mkdir -p "$OUT"

lane() {            # lane INDEX: every second (part, seed) pair
  local i=0
  for seed in $SEEDS; do
    for part in $PARTS; do
      if [ $((i++ % 2)) -eq "$1" ] && [ ! -f "$OUT/${part}_s$seed/results.json" ]; then
        "$BP" pick-bench --object "$part" --model-free --uois models/demo/uois_maskrcnn.pt \
          --grasp-quality models/demo/grasp_quality.json --seed "$seed" --attempts "${ATTEMPTS:-50}" \
          --no-ground-truth --no-baseline --threads 1 --out "$OUT/${part}_s$seed" > "$OUT/${part}_s$seed.log" 2>&1
      fi
    done
  done
}
lane 0 & lane 1 & wait
echo "runs in $OUT; pool them: python bench/modelfree_report.py --parts $OUT"
