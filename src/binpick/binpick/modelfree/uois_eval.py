"""Object-level precision, recall and F1 at IoU >= 0.5 and mask AP50 of a class-agnostic segmenter on BOP
splits (``binpick eval-uois``): every part is one instance whatever its object id.

Ground-truth instances less than 10 % visible are ignored, as in ``binpick eval-seg``: a prediction
matching one is neither a true nor a false positive, and missing one is no false negative.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from binpick.data.bop import BopSplit, Frame
from binpick.evaluation.mask_ap import MaskSet, mask_ap
from binpick.modelfree.mean_shift import Instance
from binpick.modelfree.metrics import ObjectScores, match

MIN_VISIB_FRACT = 0.1


def frames_of(split_dir: Path, gt_dir: Path | None = None, max_images: int | None = None) -> list[tuple[int, int]]:
    """(scene, image) ids of a split's frames with ground truth, up to ``max_images`` spread evenly."""
    split = BopSplit(split_dir, gt_dir)
    ids = [(s, i) for s in split.scene_ids() if split.has_gt(s) for i in split.image_ids(s)]
    if max_images and max_images < len(ids):
        ids = [ids[k] for k in np.linspace(0, len(ids) - 1, max_images).round().astype(int)]
    return ids


def score_image(scores: ObjectScores, predicted: list[np.ndarray], ground_truth: list[np.ndarray],
                ignore: list[bool], iou_min: float = 0.5) -> None:
    """Add one image to ``scores``; predictions matching an ignored instance do not count."""
    pairs = match(predicted, ground_truth, iou_min)
    matched_ignored = sum(ignore[g] for _, g in pairs)
    tp = len(pairs) - matched_ignored
    scores.true_positives += tp
    scores.false_positives += len(predicted) - len(pairs)
    scores.false_negatives += sum(not x for x in ignore) - tp


def evaluate(segment: Callable[[Frame], list[Instance]], split_dirs: list[Path],
             gt_dirs: list[Path | None] | None = None,
             max_images: int | None = None, min_visib_fract: float = MIN_VISIB_FRACT,
             progress: bool = False) -> dict[str, float]:
    """precision, recall, f1 (IoU >= 0.5), AP50, AP, ms_per_image and images of ``segment`` over splits."""
    from tqdm import tqdm

    gt_dirs = gt_dirs or [None] * len(split_dirs)
    work = [(BopSplit(d, g), s, i) for d, g in zip(split_dirs, gt_dirs) for s, i in frames_of(d, g, max_images)]
    scores, ground_truth, predictions, seconds = ObjectScores(), [], [], 0.0
    for image_id, (split, scene, im) in enumerate(tqdm(work, desc='evaluating', unit='image', disable=not progress)):
        frame = split.frame(scene, im, with_masks=True)
        t0 = time.perf_counter()
        instances = segment(frame)
        seconds += time.perf_counter() - t0
        visible = [k for k, m in enumerate(frame.masks_visib) if m.any()]
        gt_masks = [frame.masks_visib[k] for k in visible]
        ignore = [frame.gt_info[k].visib_fract < min_visib_fract if frame.gt_info else frame.masks_visib[k].sum() < 30
                  for k in visible]
        score_image(scores, [i.mask for i in instances], gt_masks, ignore)
        ground_truth.append(MaskSet(image_id, gt_masks, [1] * len(gt_masks), ignore=ignore))
        predictions.append(MaskSet(image_id, [i.mask for i in instances], [1] * len(instances),
                                   scores=[i.score for i in instances]))
    ap = mask_ap(ground_truth, predictions, 1)
    return {'precision': scores.precision, 'recall': scores.recall, 'f1': scores.f1, 'AP50': ap['AP50'],
            'AP': ap['AP'], 'ms_per_image': 1000.0 * seconds / max(1, len(work)), 'images': float(len(work))}
