"""Views of a part held up to the cell's camera and turned by the arm, for registering it (simulated).

The cell's camera looks down at the tote; the arm holds the part ``distance_m`` in front of it and turns it
so that the views' directions cover the sphere (a Fibonacci spiral, each view rolled by the golden angle).
The tote stays in the background. The hand is not rendered: the fingers' pixels, which a real cell leaves
out of the part's mask, are left out by :mod:`binpick.modelfree.registration` when they end inside the
volume. The part's mask is found without a model: the pixels whose depth lies within ``mask_depth_m`` of
the held part's centre (nothing else is that close to the camera).
"""
from __future__ import annotations

import numpy as np

from binpick.catalog.catalog import CatalogObject
from binpick.geometry import axis_angle, make_T
from binpick.modelfree.registration import View
from binpick.sim import domains
from binpick.sim.generator import CellConfig, SceneGenerator

GOLDEN_ANGLE = np.pi * (3.0 - np.sqrt(5.0))


def view_rotations(n: int) -> list[np.ndarray]:
    """``n`` rotations ``R_cam_obj`` whose object directions facing the camera cover the sphere evenly."""
    rotations = []
    for k in range(n):
        z = 1.0 - 2.0 * (k + 0.5) / n
        r, phi = np.sqrt(1.0 - z * z), k * GOLDEN_ANGLE
        d = np.array([r * np.cos(phi), r * np.sin(phi), z])         # object direction that faces the camera
        axis = np.cross(d, [0.0, 0.0, -1.0])
        angle = np.arccos(np.clip(-d[2], -1.0, 1.0))
        R = axis_angle(axis, angle) if np.linalg.norm(axis) > 1e-9 else (np.eye(3) if d[2] < 0 else
                                                                         axis_angle(np.array([1.0, 0, 0]), np.pi))
        rotations.append(axis_angle(np.array([0.0, 0.0, 1.0]), k * GOLDEN_ANGLE) @ R)
    return rotations


def held_part_views(obj: CatalogObject, n_views: int = 24, domain: str = 'real', seed: int = 0,
                    distance_m: float = 0.35, mask_depth_m: float = 0.06,
                    cell: CellConfig | None = None) -> list[View]:
    """``n_views`` views of ``obj`` held ``distance_m`` in front of the cell's camera (``domain``: 'real' gives
    the stereo camera's depth, 'synthetic' the rendered depth with noise). ``T_cam_obj`` is exact (the arm's
    kinematics); in 'real' the camera keeps the cell's calibration error."""
    cell = cell or CellConfig.from_config()
    if domain not in ('real', 'synthetic'):
        raise ValueError(f'domain {domain!r}: expected real or synthetic')
    rng = np.random.default_rng(seed)
    generator = SceneGenerator(obj, domain, cell, cell_seed=seed)
    T_world_cam = domains.nominal_camera_pose(cell.camera_height_m)
    views = []
    try:
        for R in view_rotations(n_views):
            T_cam_obj = make_T(R, np.array([0.0, 0.0, distance_m]))
            T_world_obj = [T_world_cam @ T_cam_obj]
            if domain == 'real':
                left_rgb, right_rgb, _ = generator.stereo_pair(T_world_obj, T_world_cam, rng,
                                                                generator.cell_calibration)
                rgb, depth_m = left_rgb, generator.depth_from_stereo(left_rgb, right_rgb)
            else:
                image = generator.renderer.render(T_world_obj, T_world_cam, cell.camera,
                                                  domains.appearance('synthetic', rng), with_masks=False)
                rgb, depth_m = image.rgb, domains.synthetic_depth(image.depth_m, rng)
            mask = (depth_m > 0) & (np.abs(depth_m - distance_m) < mask_depth_m)
            views.append(View(rgb, depth_m, mask, cell.camera.K.copy(), T_cam_obj))
    finally:
        generator.close()
    return views
