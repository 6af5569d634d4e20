#!/usr/bin/env bash
# The model-free segmentation figures: class-agnostic training bins of procedural shapes, the UCN and a
# class-agnostic Mask R-CNN trained on them, and F1 / AP50 on parts they never saw (the seven catalog parts
# and the test-only shapes, real-emulated stereo), against the non-learned depth baseline. Every step is
# resumable: rerun after a stop.
#   bash bench/uois.sh [WORKDIR]
# Env: EPOCHS (default 4), ITERS (iterations per epoch, default 500), SHAPES (training shapes, default 84:
# six of each of the first 14 kinds), SCENES (real-emulated training scenes, default 120), SEG_EPOCHS /
# SEG_ITERS (the Mask R-CNN's, default 3 x 400), THREADS (torch threads, default all cores).
# The bins hold the first 14 kinds, as for the shipped models/demo/uois_maskrcnn.pt. FINE_TUNE=1 adds the 2026-12-04
# experiment: bins of the two later kinds (folded sheets, headed rods) and the Mask R-CNN fine-tuned on all
# bins (2 x 300 iterations, lr 0.005) into maskrcnn_ft.pt, evaluated as eval_maskrcnn_ft.json; not shipped
# (mean F1 0.760 against 0.766). HIGH_RES=1 adds the 2026-12-05: the Mask R-CNN fine-tuned at 720 pixels on all bins
# (3 x 250 iterations, lr 0.005, about 70 min on 2 cores) into maskrcnn_720.pt, evaluated as eval_maskrcnn_720.json
# and, at the mask threshold chosen on validation bins (0.3), eval_maskrcnn_720_mask0.3.json (mean F1 0.801).
# Wall time on 2 cores: datasets about 10 min, UCN training about 1.1 s per iteration, Mask R-CNN training
# about 2.7 s per iteration, evaluation about 10 min a model.
set -euo pipefail
WORK=${1:-runs/uois}
BP=${BINPICK:-.venv/bin/binpick}
THREADS_ARG=${THREADS:+--threads $THREADS}
mkdir -p "$WORK"
stamp() { echo "$(date -u +%FT%TZ) $*" >> "$WORK/times.txt"; }

# 1. training bins (shapes nobody will test on) in both domains, and the unseen test parts
FIRST_KINDS=(box_small box_medium box_big box_thin box_long cylinder l_profile t_profile tube rod bent_rod bent_sheet
  holed_plate compound)
LATER_KINDS=(folded_sheet headed_rod)
stamp "datasets start"
$BP synth-shapes --out "$WORK/shapes_real" --domain real --shapes "${SHAPES:-84}" --scenes "${SCENES:-120}" \
  --test-scenes 4 --workers 2 --seed 0 --kinds "${FIRST_KINDS[@]}"
$BP synth-shapes --out "$WORK/shapes_syn" --domain synthetic --shapes "${SHAPES:-84}" --scenes 40 --test-scenes 0 \
  --workers 2 --seed 1 --kinds "${FIRST_KINDS[@]}"
$BP synth-shapes --out "$WORK/unseen_shapes" --shape-set test --domain real --shapes 6 --scenes 0 --test-scenes 6 \
  --workers 2 --seed 7
UNSEEN=("$WORK/unseen_shapes")
for part in tube_fitting spacer_ring spur_gear hex_nut eye_bolt zigzag_bracket connector_block; do
  $BP synth --object "$part" --domain real --scenes 1 --test-scenes 2 --out "$WORK/unseen_$part" --workers 2 --seed 5
  UNSEEN+=("$WORK/unseen_$part")
done
stamp "datasets done"

# 2. the UCN on the training bins
$BP train-uois --data "$WORK/shapes_real" "$WORK/shapes_syn" --val "$WORK/shapes_real" --out "$WORK/uois.pt" \
  --epochs "${EPOCHS:-4}" --iterations "${ITERS:-500}" --resume $THREADS_ARG
stamp "training done"
# ... and the class-agnostic Mask R-CNN on the same bins (ImageNet backbone, no catalog part's model)
$BP train-seg --class-agnostic --data "$WORK/shapes_real" "$WORK/shapes_syn" --val "$WORK/shapes_real/test" \
  --out "$WORK/maskrcnn.pt" --epochs "${SEG_EPOCHS:-3}" --max-iters-per-epoch "${SEG_ITERS:-400}" --min-size 480 \
  --resume $THREADS_ARG
stamp "mask r-cnn training done"
if [[ -n "${FINE_TUNE:-}${HIGH_RES:-}" ]]; then     # 2026-12-04: bins of the later kinds (a third of the frames)
  [ -d "$WORK/shapes_more_real" ] || $BP synth-shapes --out "$WORK/shapes_more_real" --domain real \
    --kinds "${LATER_KINDS[@]}" --shapes 24 --scenes 60 --test-scenes 2 --workers 2 --seed 10
  [ -d "$WORK/shapes_more_syn" ] || $BP synth-shapes --out "$WORK/shapes_more_syn" --domain synthetic \
    --kinds "${LATER_KINDS[@]}" --shapes 24 --scenes 20 --test-scenes 0 --workers 2 --seed 11
fi
if [[ -n "${FINE_TUNE:-}" ]]; then     # 2026-12-04: the later kinds as a fine-tuning
  $BP train-seg --class-agnostic --data "$WORK/shapes_real" "$WORK/shapes_syn" "$WORK/shapes_more_real" \
    "$WORK/shapes_more_syn" --val "$WORK/shapes_real/test" --out "$WORK/maskrcnn_ft.pt" --init "$WORK/maskrcnn.pt" \
    --lr 0.005 --epochs 2 --max-iters-per-epoch 300 --min-size 480 --resume $THREADS_ARG
  stamp "fine-tuning done"
fi
if [[ -n "${HIGH_RES:-}" ]]; then      # 2026-12-05: thin parts need pixels (as the catalog segmentation found)
  $BP train-seg --class-agnostic --data "$WORK/shapes_real" "$WORK/shapes_syn" "$WORK/shapes_more_real" \
    "$WORK/shapes_more_syn" --val "$WORK/shapes_real/test" --out "$WORK/maskrcnn_720.pt" --init "$WORK/maskrcnn.pt" \
    --lr 0.005 --epochs 3 --max-iters-per-epoch 250 --min-size 720 --resume $THREADS_ARG
  stamp "720-pixel fine-tuning done"
fi

# 3. figures: the model and the baseline on every unseen set
$BP eval-uois --ckpt "$WORK/uois.pt" --data "${UNSEEN[@]}" --json "$WORK/eval_ucn.json" $THREADS_ARG
$BP eval-uois --ckpt "$WORK/maskrcnn.pt" --data "${UNSEEN[@]}" --json "$WORK/eval_maskrcnn.json" $THREADS_ARG
$BP eval-uois --baseline --data "${UNSEEN[@]}" --json "$WORK/eval_baseline.json"
if [[ -n "${FINE_TUNE:-}" ]]; then
  $BP eval-uois --ckpt "$WORK/maskrcnn_ft.pt" --data "${UNSEEN[@]}" --json "$WORK/eval_maskrcnn_ft.json" $THREADS_ARG
fi
if [[ -n "${HIGH_RES:-}" ]]; then
  $BP eval-uois --ckpt "$WORK/maskrcnn_720.pt" --data "${UNSEEN[@]}" --json "$WORK/eval_maskrcnn_720.json" $THREADS_ARG
  for t in 0.2 0.3 0.4 0.5; do    # the mask threshold is chosen on the held-out training-shape bins (0.3 on 2026-12-05)
    $BP eval-uois --ckpt "$WORK/maskrcnn_720.pt" --data "$WORK/shapes_real" --mask-threshold $t \
      --json "$WORK/val_maskrcnn_720_mask$t.json" $THREADS_ARG
  done
  $BP eval-uois --ckpt "$WORK/maskrcnn_720.pt" --data "${UNSEEN[@]}" --mask-threshold 0.3 \
    --json "$WORK/eval_maskrcnn_720_mask0.3.json" $THREADS_ARG
fi
stamp "evaluation done"
