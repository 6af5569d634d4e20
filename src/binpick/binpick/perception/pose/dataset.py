"""Training samples of the pose network from PoseLabels, with light augmentation."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from binpick.data.bop import BopSplit, read_mask
from binpick.perception.pose.inputs import SkipInstance, prepare_instance
from binpick.perception.pose.labels import PoseLabel
from binpick.perception.pose.network import PoseNetConfig
from binpick.perception.seg_data import photometric


@lru_cache(maxsize=8)
def _split(path) -> BopSplit:
    return BopSplit(path)


class PoseDataset(torch.utils.data.Dataset):
    """Network inputs and targets (label rotation, unit vectors) of each label; deterministic per
    (seed, epoch, index). Labels whose instance cannot be prepared are dropped at construction."""

    def __init__(self, labels: list[PoseLabel], config: PoseNetConfig, augment: bool = True, seed: int = 0) -> None:
        self.labels, self.config, self.augment, self.seed, self.epoch = labels, config, augment, seed, 0

    def __len__(self) -> int:
        return len(self.labels)

    def sample(self, i: int):
        label = self.labels[i]
        rng = np.random.default_rng((self.seed, self.epoch, i))
        frame = _split(label.split_dir).frame(label.scene_id, label.im_id)
        mask = read_mask(label.mask_path)
        rgb, depth = frame.rgb, frame.depth_m
        if self.augment:
            rgb = photometric(rgb, rng)
            depth = depth + rng.standard_normal(depth.shape, dtype=np.float32) * np.float32(rng.uniform(0, 0.002))
        x = prepare_instance(rgb, depth, frame.camera.K, mask, self.config.n_points, self.config.crop_px, rng)
        t = label.T_cam_obj[:3, 3]
        to_centre = t - x.observed
        vectors = to_centre / np.linalg.norm(to_centre, axis=1, keepdims=True).clip(min=1e-9)
        return x, label.T_cam_obj[:3, :3], vectors

    def __getitem__(self, i: int):
        try:
            x, R, v = self.sample(i)
        except SkipInstance:
            return None
        as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
        return as_t(x.crop), as_t(x.points), as_t(x.point_rgb), as_t(x.point_uv), as_t(R), as_t(v)


def collate(batch):
    """Stack samples, dropping those that could not be prepared (None)."""
    batch = [b for b in batch if b is not None]
    if not batch:
        return None
    return tuple(torch.stack(parts) for parts in zip(*batch))
