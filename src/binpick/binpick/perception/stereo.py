"""Depth from a rectified stereo pair: the one function the stereo camera driver uses on hardware
and the simulator uses to make its "real" domain.

Semi-global matching (OpenCV SGBM) with a left-right consistency check, uniqueness test and speckle
filter, so the output has the holes a stereo cell really has: at occlusion edges, on textureless
and specular areas, and where disparity leaves the working range.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class StereoParams:
    """SGBM settings (OpenCV names). Defaults suit 640x480 at 0.3-1.5 m with a ~5 cm baseline."""

    block_size: int = 5
    uniqueness_ratio: int = 15    # % margin of the best match over the second: higher -> more holes
    speckle_window_px: int = 120  # connected disparity regions smaller than this are removed
    speckle_range: int = 2        # disparity jump (x16) allowed inside a region
    lr_max_diff_px: int = 1       # left-right consistency tolerance
    pre_filter_cap: int = 31


def _gray(image: np.ndarray, name: str) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f'{name} image must be HxW or HxWx3 uint8, got {image.dtype} {image.shape}')
    return image


def disparity_range(fx_px: float, baseline_m: float, depth_min_m: float, depth_max_m: float) -> tuple[int, int]:
    """(min_disparity, num_disparities) covering [depth_min_m, depth_max_m]; num is a multiple of 16."""
    d_min = int(np.floor(fx_px * baseline_m / depth_max_m))
    d_max = int(np.ceil(fx_px * baseline_m / depth_min_m))
    return d_min, int(np.ceil((d_max - d_min + 1) / 16.0) * 16)


def stereo_depth(left: np.ndarray, right: np.ndarray, fx_px: float, baseline_m: float,
                 depth_min_m: float = 0.3, depth_max_m: float = 1.5,
                 params: StereoParams = StereoParams()) -> np.ndarray:
    """Metric depth registered to the left image, from a rectified pair.

    Args:
        left, right: rectified images (HxW or HxWx3 RGB, uint8) of equal size; the right camera
            sits ``baseline_m`` along the left camera's +x axis.
        fx_px: focal length of the rectified pair, pixels.
        baseline_m: distance between the optical centres, metres.
        depth_min_m, depth_max_m: working range; matches outside it are dropped.

    Returns:
        HxW float32 depth along the optical axis in metres, 0 where there is no valid match.
    """
    left_g, right_g = _gray(left, 'left'), _gray(right, 'right')
    if left_g.shape != right_g.shape:
        raise ValueError(f'left {left_g.shape} and right {right_g.shape} images differ in size')
    if fx_px <= 0 or baseline_m <= 0 or not 0 < depth_min_m < depth_max_m:
        raise ValueError(f'need fx > 0, baseline > 0 and 0 < depth_min < depth_max; got fx={fx_px}, '
                         f'baseline={baseline_m}, range=({depth_min_m}, {depth_max_m})')
    d_min, n_disp = disparity_range(fx_px, baseline_m, depth_min_m, depth_max_m)
    b = params.block_size
    sgbm = cv2.StereoSGBM_create(minDisparity=d_min, numDisparities=n_disp, blockSize=b,
                                 P1=8 * b * b, P2=32 * b * b, disp12MaxDiff=params.lr_max_diff_px,
                                 preFilterCap=params.pre_filter_cap, uniquenessRatio=params.uniqueness_ratio,
                                 speckleWindowSize=params.speckle_window_px, speckleRange=params.speckle_range,
                                 mode=cv2.STEREO_SGBM_MODE_SGBM)
    # SGBM leaves the first min+num disparity columns empty; pad so that only pixels the right
    # camera cannot see (matched against the black padding, hence rejected) stay without depth
    pad = d_min + n_disp
    disparity = sgbm.compute(cv2.copyMakeBorder(left_g, 0, 0, pad, 0, cv2.BORDER_CONSTANT, value=0),
                             cv2.copyMakeBorder(right_g, 0, 0, pad, 0, cv2.BORDER_CONSTANT, value=0))
    disparity = disparity[:, pad:].astype(np.float32) / 16.0
    depth = np.zeros_like(disparity)
    valid = disparity > max(d_min, 0) + 0.5
    depth[valid] = fx_px * baseline_m / disparity[valid]
    depth[(depth < depth_min_m) | (depth > depth_max_m)] = 0.0
    return depth
