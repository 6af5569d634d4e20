"""The non-learned baseline of unseen-object segmentation: parts as the connected regions of depth that
stand above the tote floor, cut apart where the depth jumps.

1. the dominant plane of the scene (the tote floor) is found by RANSAC on the back-projected points;
2. pixels less than ``floor_margin_m`` above it, and pixels without depth, are background;
3. after a median filter (stereo noise), a pixel whose depth differs from a 4-neighbour's by more than
   ``jump_m`` (plus a share of the depth) is an edge;
4. the 4-connected regions of what remains, between ``min_area_px`` and ``max_area_frac`` of the image,
   with their centre over the floor (inside the convex hull of its largest region: not the tote's walls
   or the table), are the instances.

Camera frame (OpenCV), metres. No model of the part is used.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from binpick.geometry import backproject


@dataclass(frozen=True)
class DepthSegmentationConfig:
    jump_m: float = 0.003           # depth step between neighbours that separates two surfaces ...
    jump_per_m: float = 0.006       # ... plus this much per metre of depth
    floor_margin_m: float = 0.006   # closer than this to the floor plane: floor
    min_area_px: int = 80
    max_area_frac: float = 0.08
    plane_distance_m: float = 0.003  # RANSAC inlier distance of the floor plane
    median_px: int = 0              # median filter (3 or 5 px) of the depth first; 0 = none


def floor_plane(depth_m: np.ndarray, K: np.ndarray, distance_m: float = 0.003, max_points: int = 20000,
                seed: int = 0) -> np.ndarray:
    """(a, b, c, d) of the dominant plane (unit normal towards the camera), camera frame."""
    import open3d as o3d
    vs, us = np.nonzero(depth_m > 0)
    if len(vs) < 3:
        raise ValueError('no depth: cannot find the floor')
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(vs), min(max_points, len(vs)), replace=False)
    pts = backproject(us[pick], vs[pick], depth_m, K)
    o3d.utility.random.seed(seed)
    plane, _ = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts)).segment_plane(distance_m, 3, 200)
    plane = np.asarray(plane, dtype=np.float64)
    plane /= np.linalg.norm(plane[:3])
    return -plane if plane[3] < 0 else plane   # the camera (origin) on the positive side


def segment_by_depth(depth_m: np.ndarray, K: np.ndarray,
                     config: DepthSegmentationConfig | None = None) -> list[np.ndarray]:
    """Class-agnostic instance masks (HxW bool) of the parts in a depth image (metres, 0 = none)."""
    c = config or DepthSegmentationConfig()
    depth = np.where(np.isfinite(depth_m) & (depth_m > 0), depth_m, 0.0).astype(np.float32)
    valid = depth > 0
    if c.median_px:
        depth = np.where(valid, cv2.medianBlur(depth, c.median_px), 0.0)
    depth = depth.astype(np.float64)
    h, w = depth.shape
    vs, us = np.mgrid[0:h, 0:w]
    plane = floor_plane(depth, K, c.plane_distance_m)
    # signed distance of every pixel's point from the floor, towards the camera
    height = (backproject(us.ravel(), vs.ravel(), depth, K) @ plane[:3] + plane[3]).reshape(h, w)
    above = valid & (height > c.floor_margin_m)
    limit = c.jump_m + c.jump_per_m * depth
    edge = np.zeros_like(valid)
    for dv, du in ((0, 1), (1, 0)):
        step = np.abs(depth[dv:, du:] - depth[:h - dv, :w - du]) > limit[dv:, du:]
        edge[dv:, du:] |= step
        edge[:h - dv, :w - du] |= step
    over_floor = _floor_hull(valid & (np.abs(height) <= c.floor_margin_m))
    n, labels, stats, centroids = cv2.connectedComponentsWithStats((above & ~edge).astype(np.uint8), connectivity=4)
    masks = []
    for k in range(1, n):
        u, v = np.round(centroids[k]).astype(int)
        if c.min_area_px <= stats[k, 4] <= c.max_area_frac * h * w and over_floor[min(v, h - 1), min(u, w - 1)]:
            masks.append(labels == k)
    return masks


def _floor_hull(floor: np.ndarray) -> np.ndarray:
    """HxW bool: the convex hull of the largest connected region of floor pixels."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(floor.astype(np.uint8), connectivity=8)
    hull = np.zeros(floor.shape, np.uint8)
    if n > 1:
        largest = 1 + int(np.argmax(stats[1:, 4]))
        vs, us = np.nonzero(labels == largest)
        cv2.fillConvexPoly(hull, cv2.convexHull(np.stack([us, vs], axis=1).astype(np.int32)), 1)
    return hull.astype(bool)
