"""Analytic silhouettes: the full (amodal) mask of a mesh at a pose, by filling its projected triangles.

Much cheaper than rendering each instance alone; a pixel belongs to the mask when its centre is
covered (estimated by supersampling).
"""
from __future__ import annotations

import cv2
import numpy as np

from binpick.geometry import transform_points
from binpick.sim.camera import PinholeCamera

_SHIFT = 4  # fixed-point bits for cv2 polygon filling


def silhouette(vertices_m: np.ndarray, faces: np.ndarray, T_cam_obj: np.ndarray, camera: PinholeCamera,
               supersample: int = 8) -> np.ndarray:
    """HxW bool mask of every pixel whose centre the mesh covers (no occlusion by other objects).

    Args:
        vertices_m: (V, 3) mesh vertices, object frame, metres.
        faces: (F, 3) vertex indices.
        T_cam_obj: 4x4 pose of the object in the camera frame (metres); all vertices must have z > 0.
        camera: intrinsics and image size.
        supersample: sub-pixel grid per axis used to decide pixel-centre coverage.
    """
    pts = transform_points(T_cam_obj, vertices_m)
    if (pts[:, 2] <= 1e-6).any():
        raise ValueError('silhouette: the object crosses the camera plane (z <= 0)')
    uv = camera.project(pts)
    mask = np.zeros((camera.height, camera.width), bool)
    # fill only the window the projection covers (clipped to the image), at s x s sub-pixels
    x0, y0 = np.maximum(np.floor(uv.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(uv.max(axis=0)).astype(int) + 2, [camera.width, camera.height])
    if x1 <= x0 or y1 <= y0:
        return mask
    s = supersample
    canvas = np.zeros(((y1 - y0) * s, (x1 - x0) * s), np.uint8)
    # pixel centre u maps to the middle of the s sub-pixels [u*s, u*s + s)
    fixed = np.round(((uv - [x0, y0] + 0.5) * s - 0.5) * (1 << _SHIFT)).astype(np.int32)
    for tri in fixed[np.asarray(faces)]:  # one by one: fillPoly's even-odd rule would cancel overlaps
        cv2.fillConvexPoly(canvas, tri, 1, lineType=cv2.LINE_8, shift=_SHIFT)
    if s > 1:
        canvas = cv2.resize(canvas.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA) >= 0.5
    mask[y0:y1, x0:x1] = canvas.astype(bool)
    return mask
