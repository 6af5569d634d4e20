#!/usr/bin/env bash
# The physically based real-emulated datasets of results/pbr/ (domain real_pbr, Blender Cycles):
# 30 unlabeled train scenes (their ground truth kept apart in gt_eval_only/) and 12 test scenes per part,
# low and full bins alternating, one stereo frame each. About 23 s a scene on 2 cores: 16 min a part.
# Resumable: rerun the same command after a stop; only missing scenes are rendered.
#   bash bench/pbr_data.sh [WORKDIR] [PART ...]      (default runs/pbr, zigzag_bracket hex_nut)
set -euo pipefail
WORK=${1:-runs/pbr}
shift || true
PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(zigzag_bracket hex_nut)
BP=${BINPICK:-.venv/bin/binpick}
for part in "${PARTS[@]}"; do
  $BP synth --object "$part" --domain real_pbr --scenes "${SCENES:-30}" --test-scenes "${TEST_SCENES:-12}" \
    --frames-per-scene 1 --seed 2 --out "$WORK/$part/real_pbr"
done
