"""Segmentation labels from verified poses, for joint pose + segmentation self-training.

An accepted pseudo label is a pose the verification found consistent with the image and the depth. Rendered
at that pose, the part's silhouette is a better mask than the segmenter's own: it is whole where the segmenter
split the part, and it stops at the part's edge where the segmenter bled into a neighbour. Its *visible* part
is what a segmentation label needs: the render, less the pixels where another accepted part is nearer (a
z-buffer over the accepted parts) and less the pixels where the observed depth is nearer than the render by
``depth_margin_m`` (an unlabelled part lies in front).

The frame's other predicted instances (rejected or not estimated) stay as labels with the segmenter's mask,
less the accepted labels' pixels (``keep_unverified``): without them a student would learn that the parts
the teacher could not verify are background.

Output: the ground-truth files of a BOP split, written beside the unlabeled frames (``gt_dirs`` of
``train_segmentation``): ``GT_ROOT/SSSSSS/scene_gt.json`` and ``mask_visib/``; ``GT_ROOT/labels.json`` says
which labels are verified renders. Poses in ``scene_gt.json`` are the teacher's estimates (the identity for an
instance it could not estimate); segmentation training reads only the masks.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binpick.data import atomic
from binpick.data.bank import Candidate
from binpick.data.bop import BopSplit, GtPose, read_mask, write_mask, write_scene_gt
from binpick.sim.camera import PinholeCamera
from binpick.sim.object_renderer import ObjectRenderer, Rendering


@dataclass(frozen=True)
class MaskLabelConfig:
    """How verified poses become masks (metres, pixels)."""

    depth_margin_m: float = 0.004     # observed depth nearer than the render by more: something unlabelled in front
    min_visible_px: int = 30
    min_depth_share: float = 0.3      # a label with observed depth on less of its pixels is refused
    keep_unverified: bool = True


@dataclass
class MaskLabelStats:
    frames: int = 0
    verified: int = 0
    unverified: int = 0
    refused_no_depth: int = 0
    refused_hidden: int = 0

    def to_dict(self) -> dict:
        return dict(vars(self))


def visible_masks(renders: list[Rendering], depth_m: np.ndarray, config: MaskLabelConfig = MaskLabelConfig(),
                  ) -> tuple[list[np.ndarray | None], list[str]]:
    """Visible masks of parts rendered alone at their poses in one frame (HxW bool, or None if refused).

    Args:
        renders: full-frame renders of each part (``mask`` and ``depth_m`` in metres, 0 off the part).
        depth_m: the observed depth of the frame (HxW metres, 0 = none).
    Returns:
        the masks, and for each None the reason ('hidden' or 'no observed depth').
    """
    if not renders:
        return [], []
    z = np.stack([np.where(r.mask, r.depth_m, np.inf) for r in renders])
    nearest = z.argmin(axis=0)
    observed = depth_m > 0
    masks, reasons = [], []
    for k, r in enumerate(renders):
        in_front = observed & (depth_m < r.depth_m - config.depth_margin_m)
        m = r.mask & (nearest == k) & ~in_front
        if m.sum() < config.min_visible_px:
            masks.append(None)
            reasons.append('hidden')
        elif observed[m].mean() < config.min_depth_share:
            masks.append(None)
            reasons.append('no observed depth')
        else:
            masks.append(m)
            reasons.append('')
    return masks, reasons


def write_mask_labels(gt_root: str | Path, split: BopSplit, candidates: list[Candidate], accepted: np.ndarray,
                      predicted, obj, config: MaskLabelConfig = MaskLabelConfig()) -> MaskLabelStats:
    """Write segmentation labels of every frame of ``split`` under ``gt_root`` (see the module docstring).

    Args:
        candidates, accepted: the iteration's scored candidates and which were accepted.
        predicted: the frames' predicted masks (``mask_paths(scene_id, im_id)``, e.g. a MaskStore).
        obj: the catalog object.
    """
    gt_root = Path(gt_root)
    by_frame: dict[tuple[int, int], list[tuple[Candidate, bool]]] = {}
    for c, ok in zip(candidates, accepted):
        by_frame.setdefault((c.scene_id, c.im_id), []).append((c, bool(ok)))
    renderer = ObjectRenderer(obj.mesh)
    stats, verified_names = MaskLabelStats(), []
    try:
        for scene_id in split.scene_ids():
            gts: dict[int, list[GtPose]] = {}
            for im_id in split.image_ids(scene_id):
                frame = split.frame(scene_id, im_id)
                h, w = frame.depth_m.shape
                camera = PinholeCamera(frame.camera.K, w, h)
                mine = by_frame.get((scene_id, im_id), [])
                good = [c for c, ok in mine if ok]
                renders = [renderer.render(np.array(c.T_cam_obj), camera) for c in good]
                masks, reasons = visible_masks(renders, frame.depth_m, config)
                stats.refused_hidden += reasons.count('hidden')
                stats.refused_no_depth += reasons.count('no observed depth')
                labels = [(np.array(c.T_cam_obj), m, True) for c, m in zip(good, masks) if m is not None]
                if config.keep_unverified:
                    taken = np.any([m for _, m, _ in labels], axis=0) if labels else np.zeros((h, w), bool)
                    estimated = {c.mask_path: np.array(c.T_cam_obj) for c, ok in mine if not ok}
                    accepted_paths = {c.mask_path for c in good}
                    for path in predicted.mask_paths(scene_id, im_id):
                        if str(path) in accepted_paths:
                            continue
                        m = read_mask(path) & ~taken
                        if m.sum() >= config.min_visible_px:
                            labels.append((estimated.get(str(path), np.eye(4)), m, False))
                gts[im_id] = [GtPose(obj.obj_id, T) for T, _, _ in labels]
                for k, (_, m, verified) in enumerate(labels):
                    name = f'{scene_id:06d}/mask_visib/{im_id:06d}_{k:06d}.png'
                    write_mask(gt_root / name, m, fsync=False)
                    if verified:
                        verified_names.append(name)
                stats.frames += 1
                stats.verified += sum(v for _, _, v in labels)
                stats.unverified += sum(not v for _, _, v in labels)
            write_scene_gt(gt_root / f'{scene_id:06d}' / 'scene_gt.json', gts)
    finally:
        renderer.close()
    atomic.write_json(gt_root / 'labels.json', {'verified': verified_names, **stats.to_dict()})
    return stats
