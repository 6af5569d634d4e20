"""A 3D model of a part nobody registered, from views of it held by the arm: TSDF fusion, a closed mesh.

The arm turns the picked part in front of the camera; its kinematics give the part's (the hand's) pose in the
camera frame for every view, ``T_cam_obj``. The views are fused in that frame into a uniform TSDF volume
(Open3D) around the part:

- the part's pixels (its mask) give its surface;
- the other pixels carve free space only where they see past the volume (the tote behind); pixels that end
  inside it (the fingers, the wrist) are left out, so the hand does not become part of the model;
- voxels no view saw in front of a surface are inside the part (every view saw them behind its surface), and
  the volume's border is outside, so marching cubes gives a closed surface.

The mesh is then cleaned (largest component, holes filled) and must be watertight; :func:`register_part`
adds it to the catalog with ``binpick catalog add``'s checks. Frames: ``T_cam_obj`` maps object (hand) to
camera coordinates, metres; intrinsics ``K`` in pixels.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from binpick.data import atomic
from binpick.errors import BinpickError
from binpick.geometry import backproject, chamfer_distance, invert, transform_points

VIEWS_FILE = 'views.json'


class RegistrationError(BinpickError, ValueError):
    """The views cannot give a model (no part pixels, views that do not overlap, an open mesh)."""


@dataclass(frozen=True)
class View:
    """One view of the held part: colour (HxWx3 uint8), depth (HxW metres, 0 = none), the part's pixels
    (HxW bool), intrinsics ``K`` (3x3, px) and the part's pose in the camera frame ``T_cam_obj`` (4x4, m)."""

    rgb: np.ndarray
    depth_m: np.ndarray
    mask: np.ndarray
    K: np.ndarray
    T_cam_obj: np.ndarray


@dataclass(frozen=True)
class FusionConfig:
    """The fused volume: a cube of ``size_m`` centred on the object frame's origin, ``voxel_m`` voxels,
    truncation ``trunc_m``; the part's border pixels (``edge_px`` wide) are left out, as stereo depth bleeds
    across a silhouette; views whose part points overlap the others' by less than ``min_overlap`` are
    refused. The defaults were chosen on three built-in parts (``bench/registration.py``)."""

    size_m: float = 0.12
    voxel_m: float = 0.0005
    trunc_m: float = 0.003
    edge_px: int = 1
    min_overlap: float = 0.2
    overlap_m: float = 0.003


def part_points_obj(view: View) -> np.ndarray:
    """The part's observed points (Nx3, metres) in the object frame."""
    v, u = np.nonzero(view.mask & (view.depth_m > 0))
    return transform_points(invert(view.T_cam_obj), backproject(u, v, view.depth_m, view.K))


def check_views(views: list[View], config: FusionConfig) -> None:
    """Refuse views without part pixels, and views whose part points lie mostly away from every other view's
    (a wrong pose from the arm, another object, a view that does not overlap)."""
    import open3d as o3d

    if len(views) < 2:
        raise RegistrationError(f'{len(views)} view(s): a model needs at least 2')
    clouds = []
    for k, view in enumerate(views):
        pts = part_points_obj(view)
        if len(pts) < 50:
            raise RegistrationError(f'view {k}: {len(pts)} part pixels with depth, need at least 50')
        clouds.append(pts)
    for k, pts in enumerate(clouds):
        others = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.concatenate(clouds[:k] + clouds[k + 1:])))
        mine = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
        near = np.asarray(mine.compute_point_cloud_distance(others)) < config.overlap_m
        if near.mean() < config.min_overlap:
            raise RegistrationError(f'view {k}: only {near.mean():.0%} of its part points lie within '
                                    f'{1000 * config.overlap_m:.0f} mm of the other views\' (need '
                                    f'{config.min_overlap:.0%}): the views do not overlap')


def _fusion_depth(view: View, config: FusionConfig) -> np.ndarray:
    """Depth for the TSDF: the part's pixels, and other pixels only where they see past the volume."""
    import cv2

    far_m = view.T_cam_obj[2, 3] + np.sqrt(3) * config.size_m / 2     # beyond every voxel's depth
    side = 2 * config.edge_px + 1
    inner = cv2.erode(view.mask.astype(np.uint8), np.ones((side, side), np.uint8)).astype(bool)
    depth = np.where(inner, view.depth_m, np.where(~view.mask & (view.depth_m > far_m), view.depth_m, 0.0))
    return depth.astype(np.float32)


def fuse(views: list[View], config: FusionConfig | None = None) -> trimesh.Trimesh:
    """The closed TSDF surface of the part (object frame, metres), before cleaning."""
    import open3d as o3d

    config = config or FusionConfig()
    n = int(round(config.size_m / config.voxel_m))
    volume = o3d.pipelines.integration.UniformTSDFVolume(
        length=n * config.voxel_m, resolution=n, sdf_trunc=config.trunc_m,
        color_type=o3d.pipelines.integration.TSDFVolumeColorType.NoColor)
    T_vol_obj = np.eye(4)
    T_vol_obj[:3, 3] = n * config.voxel_m / 2         # the volume starts at its corner; the object frame at its centre
    for view in views:
        h, w = view.depth_m.shape
        intrinsic = o3d.camera.PinholeCameraIntrinsic(w, h, view.K[0, 0], view.K[1, 1], view.K[0, 2], view.K[1, 2])
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(np.ascontiguousarray(view.rgb)), o3d.geometry.Image(_fusion_depth(view, config)),
            depth_scale=1.0, depth_trunc=1e3, convert_rgb_to_intensity=False)
        volume.integrate(rgbd, intrinsic, view.T_cam_obj @ invert(T_vol_obj))   # extrinsic: volume -> camera
    tsdf_weight = np.asarray(volume.extract_volume_tsdf()).reshape(n, n, n, 2)
    tsdf, weight = tsdf_weight[..., 0], tsdf_weight[..., 1]
    unseen = weight <= 0
    tsdf[unseen], weight[unseen] = -1.0, 1.0          # behind a surface in every view: inside
    border = np.zeros((n, n, n), dtype=bool)
    border[[0, -1]], border[:, [0, -1]], border[:, :, [0, -1]] = True, True, True
    tsdf[border], weight[border] = 1.0, 1.0           # the volume's border is outside: the surface closes
    volume.inject_volume_tsdf(o3d.utility.Vector2dVector(np.stack([tsdf, weight], -1).reshape(-1, 2).astype(float)))
    mesh = volume.extract_triangle_mesh()
    if len(mesh.triangles) == 0:
        raise RegistrationError('the fused volume holds no surface: no view saw the part inside the volume')
    vertices = np.asarray(mesh.vertices) - T_vol_obj[:3, 3]
    return trimesh.Trimesh(vertices, np.asarray(mesh.triangles), process=True)


def clean(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The largest connected component, holes filled, normals outward; watertight or :class:`RegistrationError`."""
    parts = mesh.split(only_watertight=False)
    if len(parts) == 0:
        raise RegistrationError('the fused mesh is empty')
    body = max(parts, key=lambda p: len(p.faces))
    body.merge_vertices()
    if not body.is_watertight:
        trimesh.repair.fill_holes(body)
    if not body.is_watertight:
        raise RegistrationError(f'the model is not watertight after cleaning ({len(body.faces)} faces): '
                                'the views leave part of the surface unseen')
    trimesh.repair.fix_normals(body)
    return body


def reconstruct(views: list[View], config: FusionConfig | None = None) -> trimesh.Trimesh:
    """Check the views, fuse them, clean the mesh: a watertight model in the object frame (metres)."""
    config = config or FusionConfig()
    check_views(views, config)
    return clean(fuse(views, config))


def chamfer_m(mesh: trimesh.Trimesh, true_mesh: trimesh.Trimesh, n: int = 20000, seed: int = 0) -> float:
    """Mean Chamfer distance (metres): the mean of both directions' mean nearest-point distance over ``n``
    points sampled on each surface (half of :func:`~binpick.geometry.chamfer_distance`). Same frame."""
    a = trimesh.sample.sample_surface(mesh, n, seed=seed)[0]
    b = trimesh.sample.sample_surface(true_mesh, n, seed=seed + 1)[0]
    return 0.5 * chamfer_distance(a, b)


def save_views(folder: Path, views: list[View]) -> None:
    """Write views as ``rgb/NNNNNN.png``, ``depth/NNNNNN.png`` (uint16, 0.1 mm), ``mask/NNNNNN.png`` and
    ``views.json`` (K and T_cam_obj per view), each file atomically."""
    import cv2

    folder = Path(folder)
    entries = []
    for k, view in enumerate(views):
        name = f'{k:06d}.png'
        for sub, image in (('rgb', view.rgb[..., ::-1]), ('depth', np.round(view.depth_m * 1e4).astype(np.uint16)),
                           ('mask', view.mask.astype(np.uint8) * 255)):
            (folder / sub).mkdir(parents=True, exist_ok=True)
            ok, png = cv2.imencode('.png', np.ascontiguousarray(image))
            atomic.write_bytes(folder / sub / name, png.tobytes())
        entries.append({'image': name, 'K': view.K.tolist(), 'T_cam_obj': view.T_cam_obj.tolist()})
    atomic.write_text(folder / VIEWS_FILE, json.dumps({'depth_scale_m': 1e-4, 'views': entries}, indent=1))


def load_views(folder: Path) -> list[View]:
    """Read views written by :func:`save_views` (or by a cell's recorder in the same layout)."""
    import cv2

    folder = Path(folder)
    path = folder / VIEWS_FILE
    if not path.is_file():
        raise RegistrationError(f'{path}: no such file (a views folder holds views.json, rgb/, depth/, mask/)')
    doc = json.loads(path.read_text())
    views = []
    for k, entry in enumerate(doc.get('views', [])):
        images = {}
        for sub, flag in (('rgb', cv2.IMREAD_COLOR), ('depth', cv2.IMREAD_UNCHANGED), ('mask', cv2.IMREAD_GRAYSCALE)):
            image = cv2.imread(str(folder / sub / entry['image']), flag)
            if image is None:
                raise RegistrationError(f'{folder / sub / entry["image"]}: missing or unreadable (view {k})')
            images[sub] = image
        K, T = np.asarray(entry['K'], float), np.asarray(entry['T_cam_obj'], float)
        if K.shape != (3, 3) or T.shape != (4, 4):
            raise RegistrationError(f'{path}: view {k}: K must be 3x3 and T_cam_obj 4x4')
        views.append(View(images['rgb'][..., ::-1].copy(), images['depth'].astype(np.float32) * doc['depth_scale_m'],
                          images['mask'] > 127, K, T))
    return views


def register_part(name: str, views: list[View], config: FusionConfig | None = None, root: Path | None = None,
                  symmetry: list[str] | None = None, hold_trials: int = 5):
    """Reconstruct the part and add it to the catalog as ``name`` (``binpick catalog add``'s checks, its
    grasps sampled and hold-tested). Nothing is written when a step fails."""
    import tempfile

    from binpick.catalog.catalog import add_object

    mesh = reconstruct(views, config)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f'{name}.ply'
        mesh.export(path)
        return add_object(name, path, 'm', symmetry or ['none'], root=root, center=True,
                          description='registered from views of the held part (binpick register)',
                          hold_trials=hold_trials)
