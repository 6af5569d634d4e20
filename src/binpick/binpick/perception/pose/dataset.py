"""Training samples of the pose network from PoseLabels, with light augmentation."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from binpick.data.bop import BopSplit, mask_bbox, read_mask
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

    def __init__(self, labels: list[PoseLabel], config: PoseNetConfig, augment: bool = True, seed: int = 0,
                 cached_frames: int = 1024) -> None:
        """``cached_frames``: decoded frames kept in memory (about 2 MB each at 640x480)."""
        self.labels, self.config, self.augment, self.seed, self.epoch = labels, config, augment, seed, 0
        self._frames: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._cached_frames = cached_frames

    def _frame(self, label: PoseLabel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rgb, depth_m, K) of the label's frame, decoded once while the cache has room."""
        key = (label.split_dir, label.scene_id, label.im_id)
        cached = self._frames.get(key)
        if cached is None:
            frame = _split(label.split_dir).frame(label.scene_id, label.im_id)
            cached = (frame.rgb, frame.depth_m, frame.camera.K)
            if len(self._frames) < self._cached_frames:
                self._frames[key] = cached
        return cached

    def __len__(self) -> int:
        return len(self.labels)

    def sample(self, i: int):
        label = self.labels[i]
        rng = np.random.default_rng((self.seed, self.epoch, i))
        rgb, depth, K = self._frame(label)
        mask = read_mask(label.mask_path)
        if self.augment and mask.shape == depth.shape and mask.any():
            # jitter only around the instance (the crop covers 1.2x its box): copies, the cache stays clean
            bx, by, bw, bh = mask_bbox(mask)
            m = max(bw, bh) // 2 + 2
            region = np.s_[max(0, by - m):by + bh + m, max(0, bx - m):bx + bw + m]
            rgb, depth = rgb.copy(), depth.copy()
            rgb[region] = photometric(np.ascontiguousarray(rgb[region]), rng)
            depth[region] += rng.standard_normal(depth[region].shape, dtype=np.float32) * np.float32(
                rng.uniform(0, 0.002))
        x = prepare_instance(rgb, depth, K, mask, self.config.n_points, self.config.crop_px, rng)
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
