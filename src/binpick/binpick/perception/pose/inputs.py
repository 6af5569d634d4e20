"""One instance as the pose network sees it: an RGB crop around its mask and N points of the masked
depth (camera frame, metres, centred on their mean), with their colours and crop coordinates.

The same function prepares training samples and inference inputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from binpick.geometry import backproject
from binpick.perception.efficientnet_lite import IMAGENET_MEAN, IMAGENET_STD

MIN_POINTS = 32


@dataclass
class PoseInput:
    """Network inputs of one instance (numpy, float32) and the centre the points were shifted by."""

    crop: np.ndarray        # (3, S, S) ImageNet-normalised
    points: np.ndarray      # (N, 3) centred, metres
    point_rgb: np.ndarray   # (N, 3) in [0, 1]
    point_uv: np.ndarray    # (N, 2) in [-1, 1], crop coordinates (x, y)
    centroid: np.ndarray    # (3,) camera frame, metres: points = observed - centroid
    observed: np.ndarray    # (N, 3) the sampled points in the camera frame, metres


class SkipInstance(ValueError):
    """An instance the network cannot be given (too few depth points, mask outside the image ...)."""


def prepare_instance(rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray, mask: np.ndarray, n_points: int = 512,
                     crop_px: int = 64, rng: np.random.Generator | None = None) -> PoseInput:
    """Build the network input of one instance.

    Raises:
        SkipInstance: with the reason, when the mask does not fit the image or holds fewer than
            ``MIN_POINTS`` pixels with valid (finite, positive) depth.
    """
    h, w = depth_m.shape
    if mask.shape != (h, w) or rgb.shape[:2] != (h, w):
        raise SkipInstance(f'mask {mask.shape} / image {rgb.shape[:2]} do not match the depth {depth_m.shape}')
    rng = rng or np.random.default_rng(0)
    ys, xs = np.nonzero(mask)                       # one pass over the image; the rest on the mask's pixels
    z = depth_m[ys, xs]
    valid = np.isfinite(z) & (z > 0)
    vs, us = ys[valid], xs[valid]
    if len(us) < MIN_POINTS:
        raise SkipInstance(f'only {len(us)} mask pixels with valid depth (need {MIN_POINTS})')
    pick = rng.choice(len(us), n_points, replace=len(us) < n_points)
    us, vs = us[pick], vs[pick]
    observed = backproject(us, vs, depth_m, K)
    centroid = observed.mean(axis=0)

    cx, cy = (xs.min() + xs.max()) / 2.0, (ys.min() + ys.max()) / 2.0
    half = max(xs.max() - xs.min(), ys.max() - ys.min(), 8) * 0.6
    x0, y0 = cx - half, cy - half
    scale = crop_px / (2 * half)
    affine = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], dtype=np.float64)
    crop = cv2.warpAffine(rgb, affine, (crop_px, crop_px), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    crop = ((crop.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)
    uv = np.stack([(us - x0) * scale, (vs - y0) * scale], axis=1) / crop_px * 2.0 - 1.0
    return PoseInput(crop.astype(np.float32), (observed - centroid).astype(np.float32),
                     (rgb[vs, us] / 255.0).astype(np.float32), uv.astype(np.float32),
                     centroid, observed)
