"""Render one object alone at a given pose: RGB, metric depth and mask (pose verification).

Uses pybullet's software renderer in a private DIRECT client, so it needs no display and no GPU.
Render crops, not full frames, when scoring many hypotheses: pass ``camera.crop(...)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet as pb
import trimesh

from binpick.geometry import make_T, quat_from_matrix
from binpick.sim.camera import PinholeCamera, depth_buffer_to_metres, gl_view, to_pybullet
from binpick.sim.pybullet_client import PybulletClient


@dataclass
class Rendering:
    """Images of one rendering: ``rgb`` HxWx3 uint8, ``depth_m`` HxW float32 (0 = empty), ``mask`` bool."""

    rgb: np.ndarray
    depth_m: np.ndarray
    mask: np.ndarray


class ObjectRenderer(PybulletClient):
    """Renders one mesh (metres, object frame) at poses ``T_cam_obj``; reusable for many calls.

    Args:
        mesh: the object's mesh in metres.
        color_rgba: flat colour of the object.
        near, far: clipping planes in metres.
    """

    def __init__(self, mesh: trimesh.Trimesh, color_rgba=(0.7, 0.7, 0.72, 1.0),
                 near: float = 0.05, far: float = 4.0) -> None:
        self.near, self.far = near, far
        super().__init__()
        visual = self.mesh_visual(mesh, color_rgba)
        self.body = pb.createMultiBody(baseVisualShapeIndex=visual, physicsClientId=self.client)

    def render(self, T_cam_obj: np.ndarray, camera: PinholeCamera) -> Rendering:
        """Render the object at ``T_cam_obj`` (4x4, metres) seen by ``camera`` (full image or crop)."""
        # the camera sits at the world origin; the object is placed in the camera frame
        T_world_obj = np.asarray(T_cam_obj, dtype=np.float64)
        q = quat_from_matrix(T_world_obj[:3, :3])
        pb.resetBasePositionAndOrientation(self.body, T_world_obj[:3, 3].tolist(), q.tolist(),
                                           physicsClientId=self.client)
        _, _, rgba, depth_buffer, seg = pb.getCameraImage(
            camera.width, camera.height, viewMatrix=to_pybullet(gl_view(make_T(np.eye(3), np.zeros(3)))),
            projectionMatrix=to_pybullet(camera.gl_projection(self.near, self.far)),
            renderer=pb.ER_TINY_RENDERER,
            lightDirection=[0.0, 0.0, -1.0], shadow=0, physicsClientId=self.client)
        rgba = np.asarray(rgba, dtype=np.uint8).reshape(camera.height, camera.width, 4)
        mask = np.asarray(seg).reshape(camera.height, camera.width) == self.body
        depth = depth_buffer_to_metres(np.asarray(depth_buffer).reshape(camera.height, camera.width),
                                       self.near, self.far)
        depth[~mask] = 0.0
        return Rendering(rgba[..., :3].copy(), depth, mask)

