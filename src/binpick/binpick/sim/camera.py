"""Pinhole cameras: intrinsics checks, OpenGL matrices for pybullet, depth-buffer conversion.

Frames: the OpenCV optical frame (x right, y down, z forward), metres. ``T_world_cam`` maps camera
points to the world.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from binpick.errors import BinpickError
from binpick.geometry import invert

# OpenCV optical frame -> OpenGL camera frame (y up, looking down -z)
T_GL_CV = np.diag([1.0, -1.0, -1.0, 1.0])


class CameraError(BinpickError, ValueError):
    """Intrinsics that cannot describe the given image."""


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics ``K`` (3x3, pixels) of a ``width`` x ``height`` image."""

    K: np.ndarray
    width: int
    height: int

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64)
        if K.shape != (3, 3):
            raise CameraError(f'K must be 3x3, got shape {K.shape}')
        if self.width <= 0 or self.height <= 0:
            raise CameraError(f'image size {self.width}x{self.height} must be positive')
        fx, fy = K[0, 0], K[1, 1]
        if fx <= 0 or fy <= 0 or not np.isfinite(K).all():
            raise CameraError(f'focal lengths must be positive and finite, got fx={fx}, fy={fy}')
        if K[0, 1] != 0 or K[1, 0] != 0 or K[2, 0] != 0 or K[2, 1] != 0 or K[2, 2] != 1:
            raise CameraError(f'K must be [[fx,0,cx],[0,fy,cy],[0,0,1]], got {K.tolist()}')
        object.__setattr__(self, 'K', K)

    def check_matches_image(self) -> PinholeCamera:
        """Refuse a K whose principal point lies outside the image (K made for another size)."""
        cx, cy = self.K[0, 2], self.K[1, 2]
        if not (0 <= cx < self.width and 0 <= cy < self.height):
            raise CameraError(f'principal point ({cx:.1f}, {cy:.1f}) lies outside the '
                              f'{self.width}x{self.height} image: K does not match the image size')
        return self

    @classmethod
    def from_params(cls, fx: float, fy: float, cx: float, cy: float, width: int, height: int) -> PinholeCamera:
        return cls(np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]), int(width),
                   int(height)).check_matches_image()

    def crop(self, x0: int, y0: int, width: int, height: int) -> PinholeCamera:
        """The camera of the window [x0, x0+width) x [y0, y0+height) of this image."""
        K = self.K.copy()
        K[0, 2] -= x0
        K[1, 2] -= y0
        return PinholeCamera(K, width, height)

    def project(self, pts_cam: np.ndarray) -> np.ndarray:
        """(N, 2) pixel coordinates of (N, 3) points in the camera frame (z > 0)."""
        uvw = pts_cam @ self.K.T
        return uvw[:, :2] / uvw[:, 2:3]

    def gl_projection(self, near: float, far: float) -> np.ndarray:
        """4x4 OpenGL projection for pybullet's TinyRenderer reproducing K (pixel centres at integers).

        TinyRenderer samples pixel (u, v) at NDC x = 2u/w - 1, y = 1 - 2(v + 1)/h (found against
        analytic silhouettes, see test_sim_render.py), hence the offsets below.
        """
        fx, fy, cx, cy = self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2]
        w, h = self.width, self.height
        return np.array([
            [2 * fx / w, 0.0, 1.0 - 2 * cx / w, 0.0],
            [0.0, 2 * fy / h, 2 * (cy + 1.0) / h - 1.0, 0.0],
            [0.0, 0.0, -(far + near) / (far - near), -2 * far * near / (far - near)],
            [0.0, 0.0, -1.0, 0.0]])


def gl_view(T_world_cam: np.ndarray) -> np.ndarray:
    """4x4 OpenGL view matrix of a camera pose given in the OpenCV convention."""
    return T_GL_CV @ invert(T_world_cam)


def to_pybullet(M: np.ndarray) -> list[float]:
    """A 4x4 matrix as the column-major flat list pybullet takes."""
    return [float(v) for v in np.asarray(M).T.reshape(-1)]


def depth_buffer_to_metres(buffer: np.ndarray, near: float, far: float) -> np.ndarray:
    """OpenGL depth buffer in [0, 1] -> z distance along the optical axis (metres); far plane -> 0.

    Computed in float32, the precision of the buffer itself.
    """
    buffer = np.asarray(buffer, dtype=np.float32)
    depth = np.float32(far * near) / (np.float32(far) - np.float32(far - near) * buffer)
    depth[buffer >= np.float32(1.0 - 1e-7)] = 0.0
    return depth


def look_at(eye: np.ndarray, target: np.ndarray, up_hint: tuple[float, float, float] = (0.0, -1.0, 0.0)) -> np.ndarray:
    """``T_world_cam`` (OpenCV frame) of a camera at ``eye`` looking at ``target`` (world, metres).

    Camera +y (image down) points along the projection of ``up_hint`` onto the image plane.
    """
    z = np.asarray(target, float) - np.asarray(eye, float)
    z /= np.linalg.norm(z)
    y = np.asarray(up_hint, float) - np.dot(up_hint, z) * z
    if np.linalg.norm(y) < 1e-6:
        y = np.array([1.0, 0.0, 0.0]) - z[0] * z
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    T = np.eye(4)
    T[:3, :3] = np.column_stack([x, y, z])
    T[:3, 3] = eye
    return T
