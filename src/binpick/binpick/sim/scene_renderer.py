"""Render a settled bin: RGB, metric depth, visible and full instance masks, ground truth.

The scene is rebuilt as visual shapes in a private pybullet client and drawn with the software
renderer (no display, no GPU). Visible masks come from the renderer's segmentation buffer; full
(amodal) masks from analytic silhouettes, which is far cheaper than rendering each part alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pybullet as pb

from binpick.catalog.catalog import CatalogObject
from binpick.geometry import invert, quat_from_matrix
from binpick.sim.bin_physics import BinSpec
from binpick.sim.camera import PinholeCamera, depth_buffer_to_metres, gl_view, to_pybullet
from binpick.sim.pybullet_client import PybulletClient
from binpick.sim.silhouette import silhouette


@dataclass(frozen=True)
class Appearance:
    """Colours and light of one rendering (all RGB in [0, 1])."""

    object_rgb: tuple = (0.62, 0.64, 0.68)
    bin_rgb: tuple = (0.20, 0.30, 0.55)
    floor_rgb: tuple = (0.45, 0.45, 0.45)
    light_direction: tuple = (0.3, -0.2, 1.0)
    ambient: float = 0.5
    diffuse: float = 0.6
    specular: float = 0.2
    shadow: bool = True
    bin_texture: int = -1     # index into the renderer's textures, -1 = plain colour
    floor_texture: int = -1


@dataclass
class SceneImage:
    """One rendered frame of a bin. Masks are HxW bool; poses 4x4 ``T_cam_obj`` in metres."""

    rgb: np.ndarray
    depth_m: np.ndarray
    T_cam_obj: list[np.ndarray]
    masks: list[np.ndarray] = field(repr=False)
    masks_visib: list[np.ndarray] = field(repr=False)

    @property
    def visib_fract(self) -> list[float]:
        return [float(v.sum() / m.sum()) if m.sum() else 0.0 for m, v in zip(self.masks, self.masks_visib)]


class SceneRenderer(PybulletClient):
    """Draws parts of one catalog object in a tote, seen from a pinhole camera."""

    def __init__(self, obj: CatalogObject, bin_spec: BinSpec = BinSpec(), near: float = 0.05,
                 far: float = 3.0, textures: list[np.ndarray] = ()) -> None:
        self.obj, self.bin, self.near, self.far = obj, bin_spec, near, far
        super().__init__()
        self._textures = [self.load_texture(t) for t in textures]
        self._visual = self.mesh_visual(obj.mesh)
        self._parts: list[int] = []
        self._static: list[int] = []
        table = ((2.0, 2.0, 0.005), (0.0, 0.0, -bin_spec.wall_m - 0.005))
        for half, pos in [table] + bin_spec.boxes():
            shape = pb.createVisualShape(pb.GEOM_BOX, halfExtents=half, physicsClientId=self.client)
            self._static.append(pb.createMultiBody(0, -1, shape, basePosition=pos, physicsClientId=self.client))

    def _set_parts(self, T_world_obj: list[np.ndarray]) -> None:
        while len(self._parts) < len(T_world_obj):
            self._parts.append(pb.createMultiBody(0, -1, self._visual, physicsClientId=self.client))
        while len(self._parts) > len(T_world_obj):
            pb.removeBody(self._parts.pop(), physicsClientId=self.client)
        for body, T in zip(self._parts, T_world_obj):
            pb.resetBasePositionAndOrientation(body, T[:3, 3].tolist(), quat_from_matrix(T[:3, :3]).tolist(),
                                               physicsClientId=self.client)

    def _paint(self, body: int, rgb: tuple, texture: int) -> None:
        if texture >= 0:
            pb.changeVisualShape(body, -1, rgbaColor=[1.0, 1.0, 1.0, 1.0],
                                 textureUniqueId=self._textures[texture % len(self._textures)],
                                 physicsClientId=self.client)
        else:
            pb.changeVisualShape(body, -1, rgbaColor=[*rgb, 1.0], textureUniqueId=-1,
                                 physicsClientId=self.client)

    def _colour(self, look: Appearance) -> None:
        for body in self._parts:
            self._paint(body, look.object_rgb, -1)
        self._paint(self._static[0], look.floor_rgb, look.floor_texture)
        for body in self._static[1:]:
            self._paint(body, look.bin_rgb, look.bin_texture)

    def render(self, T_world_obj: list[np.ndarray], T_world_cam: np.ndarray, camera: PinholeCamera,
               look: Appearance = Appearance(), with_masks: bool = True) -> SceneImage:
        """Render the parts at ``T_world_obj`` from a camera at ``T_world_cam`` (OpenCV frame).

        ``with_masks=False`` skips the instance masks (e.g. for the right image of a stereo pair).
        """
        self._set_parts(T_world_obj)
        self._colour(look)
        _, _, rgba, depth_buffer, seg = pb.getCameraImage(
            camera.width, camera.height, viewMatrix=to_pybullet(gl_view(T_world_cam)),
            projectionMatrix=to_pybullet(camera.gl_projection(self.near, self.far)),
            renderer=pb.ER_TINY_RENDERER, lightDirection=list(look.light_direction),
            lightAmbientCoeff=look.ambient, lightDiffuseCoeff=look.diffuse,
            lightSpecularCoeff=look.specular, shadow=int(look.shadow), physicsClientId=self.client)
        h, w = camera.height, camera.width
        seg = np.asarray(seg).reshape(h, w)
        depth = depth_buffer_to_metres(np.asarray(depth_buffer).reshape(h, w), self.near, self.far)
        T_cam_world = invert(T_world_cam)
        T_cam_obj = [T_cam_world @ T for T in T_world_obj]
        mesh = self.obj.mesh
        masks = [silhouette(mesh.vertices, mesh.faces, T, camera) for T in T_cam_obj] if with_masks else []
        masks_visib = [(seg == body) & m for body, m in zip(self._parts, masks)]
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(h, w, 4)[..., :3].copy()
        return SceneImage(rgb, depth, T_cam_obj, masks, masks_visib)
