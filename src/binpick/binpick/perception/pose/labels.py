"""Pose labels: which instance of which frame, its mask, and the pose to learn (``T_cam_obj``, metres).

The trainer takes a list of labels and does not care where they came from: ground truth of a BOP
split (:func:`labels_from_bop`) or accepted pseudo labels of self-training.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binpick.data.bop import BopSplit


@dataclass(frozen=True)
class PoseLabel:
    """One instance to learn from."""

    split_dir: Path
    scene_id: int
    im_id: int
    mask_path: Path          # visible mask of the instance (PNG)
    T_cam_obj: np.ndarray    # 4x4 label pose, metres


def labels_from_bop(split_dir: str | Path, obj_id: int, gt_dir: str | Path | None = None,
                    min_visib_fract: float = 0.3) -> list[PoseLabel]:
    """Ground-truth labels of one object in a BOP split (instances at least ``min_visib_fract`` visible)."""
    split = BopSplit(split_dir, gt_dir)
    labels = []
    for scene_id in split.scene_ids():
        if not split.has_gt(scene_id):
            continue
        _, gt, gt_info = split.annotations(scene_id)
        mask_dir = split.gt_root / f'{scene_id:06d}' / 'mask_visib'
        for im_id, poses in gt.items():
            infos = gt_info.get(im_id) if gt_info else None
            for k, g in enumerate(poses):
                if g.obj_id != obj_id or (infos is not None and infos[k].visib_fract < min_visib_fract):
                    continue
                labels.append(PoseLabel(split.root, scene_id, im_id, mask_dir / f'{im_id:06d}_{k:06d}.png',
                                        g.T_cam_obj))
    return labels
