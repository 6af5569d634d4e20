"""Training samples for instance segmentation from BOP splits, with copy-paste augmentation
(Ghiasi et al., CVPR 2021) and photometric / flip augmentation.

A sample is the frame's RGB and the visible masks of its ground-truth instances (those with at least
``min_visible_px`` visible pixels), labelled by the model's object list.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from binpick.data.bop import BopSplit, mask_bbox
from binpick.data.errors import DataFormatError
from binpick.perception.seg_model import depth_relief


@dataclass
class SegSample:
    """RGB (HxWx3 uint8), visible masks (N x H x W bool) and labels (N,) of one frame; the visible
    fraction of each instance (N,) when the split's ground truth has it (evaluation only); the depth
    (HxW metres, 0 = none) when the source was asked for it."""

    rgb: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    visib_fract: np.ndarray | None = None
    depth_m: np.ndarray | None = None


class BopSegSource:
    """Index of every frame with ground truth in some BOP splits; loads SegSamples. ``label_of_obj_id``:
    the model label of each object kept (None: every object, label 1, for a class-agnostic model);
    ``with_depth``: samples carry the frame's depth."""

    def __init__(self, split_dirs: list[str | Path], label_of_obj_id: dict[int, int] | None, min_visible_px: int = 30,
                 gt_dirs: list[str | Path | None] | None = None, with_depth: bool = False) -> None:
        self.splits = [BopSplit(d, g) for d, g in zip(split_dirs, gt_dirs or [None] * len(split_dirs))]
        self.label_of_obj_id, self.min_visible_px, self.with_depth = label_of_obj_id, min_visible_px, with_depth
        self.index = [(k, scene, im) for k, split in enumerate(self.splits) for scene in split.scene_ids()
                      if split.has_gt(scene) for im in split.image_ids(scene)]
        if not self.index:
            raise DataFormatError(split_dirs[0], '', 'no frames with ground truth in '
                                  + ', '.join(str(d) for d in split_dirs))

    def __len__(self) -> int:
        return len(self.index)

    def load(self, i: int) -> SegSample:
        k, scene, im = self.index[i]
        frame = self.splits[k].frame(scene, im, with_masks=True)
        label = {g.obj_id: 1 for g in frame.gt} if self.label_of_obj_id is None else self.label_of_obj_id
        keep = [j for j, (g, m) in enumerate(zip(frame.gt, frame.masks_visib))
                if g.obj_id in label and m.sum() >= self.min_visible_px]
        h, w = frame.rgb.shape[:2]
        masks = np.array([frame.masks_visib[j] for j in keep], dtype=bool).reshape(-1, h, w)
        labels = np.array([label[frame.gt[j].obj_id] for j in keep], dtype=np.int64)
        visib = None if frame.gt_info is None else np.array([frame.gt_info[j].visib_fract for j in keep])
        return SegSample(frame.rgb, masks, labels, visib, frame.depth_m if self.with_depth else None)


def _flip(axis: int, rgb: np.ndarray, masks: np.ndarray, depth_m: np.ndarray | None) -> tuple:
    """A sample's HxWx3 RGB, NxHxW masks and optional HxW depth mirrored together (axis 0: rows, 1: columns)."""
    return np.flip(rgb, axis), np.flip(masks, axis + 1), None if depth_m is None else np.flip(depth_m, axis)


def copy_paste(target: SegSample, source: SegSample, rng: np.random.Generator, min_visible_px: int = 30) -> SegSample:
    """Paste a random half of ``source``'s instances (randomly flipped) onto ``target``.

    Pasted pixels occlude the target's instances; instances left with fewer than ``min_visible_px``
    visible pixels are dropped.
    """
    if len(source.labels) == 0:
        return target
    src_rgb, src_masks, src_depth = source.rgb, source.masks, source.depth_m
    if rng.random() < 0.5:
        src_rgb, src_masks, src_depth = _flip(1, src_rgb, src_masks, src_depth)
    chosen = rng.random(len(source.labels)) < 0.5
    if not chosen.any():
        return target
    pasted = src_masks[chosen]
    union = pasted.any(axis=0)
    rgb = target.rgb.copy()
    rgb[union] = src_rgb[union]
    depth_m = None
    if target.depth_m is not None and src_depth is not None:
        depth_m = target.depth_m.copy()
        depth_m[union] = src_depth[union]
    masks = target.masks & ~union
    keep = masks.reshape(len(masks), -1).sum(axis=1) >= min_visible_px
    return SegSample(rgb, np.concatenate([masks[keep], pasted]), np.concatenate([target.labels[keep],
                                                                                 source.labels[chosen]]),
                     depth_m=depth_m)


def photometric(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation, hue, blur and noise jitter of an RGB uint8 image."""
    img = rgb.astype(np.float32)
    img = (img - img.mean()) * rng.uniform(0.7, 1.3) + img.mean() * rng.uniform(0.7, 1.3)
    hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-8, 8)) % 180
    hsv[..., 1] *= rng.uniform(0.6, 1.4)
    img = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.2))
    img += rng.standard_normal(img.shape, dtype=np.float32) * rng.uniform(0, 6)
    return np.clip(img, 0, 255).astype(np.uint8)


def augment(sample: SegSample, rng: np.random.Generator) -> SegSample:
    """Flips and photometric jitter (of the RGB)."""
    rgb, masks, depth_m = sample.rgb, sample.masks, sample.depth_m
    for axis in (1, 0):
        if rng.random() < 0.5:
            rgb, masks, depth_m = _flip(axis, rgb, masks, depth_m)
    return SegSample(photometric(np.ascontiguousarray(rgb), rng), np.ascontiguousarray(masks), sample.labels,
                     depth_m=None if depth_m is None else np.ascontiguousarray(depth_m))


def image_tensor(rgb: np.ndarray, depth_m: np.ndarray | None = None) -> torch.Tensor:
    """The network's input: 3xHxW RGB in [0, 1], and with a depth image a fourth channel, its relief
    (``seg_model.depth_relief``)."""
    image = torch.from_numpy(np.require(rgb, requirements=['C', 'W'])).permute(2, 0, 1).float() / 255.0
    if depth_m is None:
        return image
    return torch.cat([image, torch.from_numpy(depth_relief(depth_m))[None]])


def to_tensors(sample: SegSample) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Image (``image_tensor``) and a torchvision detection target (boxes xyxy, labels, masks)."""
    image = image_tensor(sample.rgb, sample.depth_m)
    boxes = [(x, y, x + w, y + h) for x, y, w, h in map(mask_bbox, sample.masks)]
    target = {'boxes': torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
              'labels': torch.from_numpy(sample.labels),
              'masks': torch.from_numpy(sample.masks.astype(np.uint8))}
    return image, target


class SegTrainDataset(torch.utils.data.Dataset):
    """Augmented training samples; deterministic for (seed, epoch, index)."""

    def __init__(self, source: BopSegSource, copy_paste_prob: float = 0.5, seed: int = 0) -> None:
        self.source, self.copy_paste_prob, self.seed, self.epoch = source, copy_paste_prob, seed, 0

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int):
        rng = np.random.default_rng((self.seed, self.epoch, i))
        sample = self.source.load(i)
        if rng.random() < self.copy_paste_prob and len(self.source) > 1:
            other = int(rng.integers(len(self.source) - 1))
            sample = copy_paste(sample, self.source.load(other + (other >= i)), rng, self.source.min_visible_px)
        return to_tensors(augment(sample, rng))
