"""Mask AP of a segmenter on a BOP split (ground truth from the split or its evaluation folder)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from binpick.evaluation.mask_ap import MaskSet, mask_ap
from binpick.perception.seg_data import BopSegSource

BOP_MIN_VISIB_FRACT = 0.1


def evaluate_split(segmenter, split_dir: str | Path, label_of_obj_id: dict[int, int] | None,
                   gt_dir: str | Path | None = None, max_images: int | None = None,
                   min_visib_fract: float = BOP_MIN_VISIB_FRACT, progress: bool = False) -> dict[str, float]:
    """AP, AP50, AP75 over up to ``max_images`` frames (spread evenly), and mean ms per frame.

    Ground-truth instances less than ``min_visib_fract`` visible are ignored (neither missed nor
    matched, as COCO does with crowd regions), as BOP's segmentation evaluation does with 0.1
    (``scene_gt_coco.json``'s ``ignore``). A split without visibility in its ground truth ignores
    instances of fewer than 30 visible pixels instead.
    """
    from tqdm import tqdm

    all_source = BopSegSource([split_dir], label_of_obj_id, min_visible_px=1, gt_dirs=[gt_dir],
                              with_depth=segmenter.config.depth_input)
    picks = np.arange(len(all_source))
    if max_images and max_images < len(picks):
        picks = np.linspace(0, len(picks) - 1, max_images).round().astype(int)
    ground_truth, predictions, seconds = [], [], 0.0
    for image_id in tqdm(picks.tolist(), desc='evaluating', unit='image', disable=not progress):
        sample = all_source.load(image_id)
        t0 = time.perf_counter()
        instances = segmenter.segment(sample.rgb, sample.depth_m)
        seconds += time.perf_counter() - t0
        ignore = ([m.sum() < 30 for m in sample.masks] if sample.visib_fract is None
                  else (sample.visib_fract < min_visib_fract).tolist())
        ground_truth.append(MaskSet(image_id, list(sample.masks), sample.labels.tolist(), ignore=ignore))
        names = segmenter.config.object_names
        predictions.append(MaskSet(image_id, [i.mask for i in instances],
                                   [names.index(i.object_name) + 1 for i in instances],
                                   scores=[i.score for i in instances]))
    metrics = mask_ap(ground_truth, predictions, len(segmenter.config.object_names))
    metrics['ms_per_image'] = 1000.0 * seconds / max(1, len(picks))
    metrics['images'] = float(len(picks))
    return metrics


def evaluate_checkpoint(ckpt: str | Path, split_dir: str | Path, catalog, score_threshold: float = 0.05,
                        ) -> dict[str, float]:
    """:func:`evaluate_split` of the segmentation checkpoint ``ckpt``, its detections ranked down to
    ``score_threshold`` (as ``binpick eval-seg`` scores AP), against the split's ground truth or its
    evaluation folder."""
    from binpick.data.bop import eval_gt_dir
    from binpick.perception.seg_train import label_map
    from binpick.perception.segmentation import Segmenter
    ranked = Segmenter.load(ckpt, catalog, score_threshold=score_threshold)
    return evaluate_split(ranked, split_dir, label_map(catalog, ranked.config.object_names), eval_gt_dir(split_dir))

