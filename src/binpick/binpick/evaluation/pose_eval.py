"""ADD(-S) recall of a pose estimator on a BOP split, with ground-truth or predicted masks."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from binpick.catalog.catalog import CatalogObject
from binpick.data.bop import BopSplit
from binpick.data.bop_results import PoseEstimate
from binpick.evaluation.recall import GtTarget, RecallReport, recall
from binpick.evaluation.rules import DEFAULT_RULE, RULES

MaskSource = Callable[[int, int, np.ndarray], list[np.ndarray]]   # (scene_id, im_id, rgb) -> masks


@dataclass
class PoseEvaluation:
    report: RecallReport
    estimates: list[PoseEstimate]
    ms_per_instance: float
    skipped: dict[str, int] = field(default_factory=dict)


def segmenter_masks(segmenter, obj: CatalogObject) -> MaskSource:
    """Mask source that runs ``segmenter`` on each frame and keeps the masks of ``obj``."""
    return lambda scene_id, im_id, rgb: [i.mask for i in segmenter.segment(rgb) if i.object_name == obj.name]


def evaluate_pose(estimator, split_dir: str | Path, obj: CatalogObject, gt_dir: str | Path | None = None,
                  predicted_masks: MaskSource | None = None, max_images: int | None = None,
                  rule: str = DEFAULT_RULE, n_model_points: int = 1000,
                  progress: bool = False) -> PoseEvaluation:
    """Estimate every instance of ``obj`` in the split and score by ADD(-S) < 10 % of the diameter,
    under the evaluation ``rule`` (:data:`~binpick.evaluation.recall.RULES`). Each estimate carries the
    seconds its image took (BOP's ``time``).

    Masks are the ground-truth visible masks (diagnosis only) unless ``predicted_masks`` is given
    (:func:`segmenter_masks`, or a :class:`~binpick.perception.mask_store.MaskStore`'s ``masks``).
    """
    from tqdm import tqdm

    split = BopSplit(split_dir, gt_dir)
    frames = [(s, i) for s in split.scene_ids() if split.has_gt(s) for i in split.image_ids(s)]
    if max_images and max_images < len(frames):
        frames = [frames[int(k)] for k in np.linspace(0, len(frames) - 1, max_images).round()]
    targets, estimates, seconds, n_instances, skipped = [], [], 0.0, 0, {}
    for scene_id, im_id in tqdm(frames, desc='estimating poses', unit='image', disable=not progress):
        frame = split.frame(scene_id, im_id, with_masks=predicted_masks is None)
        infos = frame.gt_info or [None] * len(frame.gt)
        for g, info in zip(frame.gt, infos):
            if g.obj_id == obj.obj_id:
                targets.append(GtTarget(scene_id, im_id, g.obj_id, g.T_cam_obj,
                                        info.visib_fract if info is not None else 1.0))
        if predicted_masks is not None:
            masks = predicted_masks(scene_id, im_id, frame.rgb)
        else:
            masks = [m for g, m in zip(frame.gt, frame.masks_visib) if g.obj_id == obj.obj_id and m.any()]
        t0 = time.perf_counter()
        results = estimator.estimate(frame.rgb, frame.depth_m, frame.camera.K, masks)
        image_s = time.perf_counter() - t0
        seconds += image_s
        n_instances += len(masks)
        for r in results:
            if r.T_cam_obj is None:
                reason = r.skipped.split(' (')[0]
                skipped[reason] = skipped.get(reason, 0) + 1
            else:
                estimates.append(PoseEstimate(scene_id, im_id, obj.obj_id, r.confidence, r.T_cam_obj, image_s))
    report = recall(targets, estimates, {obj.obj_id: obj.sample_points(n_model_points)}, {obj.obj_id: obj.info},
                    rule=RULES[rule])
    return PoseEvaluation(report, estimates, 1000.0 * seconds / max(1, n_instances), skipped)
