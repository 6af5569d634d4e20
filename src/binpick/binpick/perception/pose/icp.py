"""Optional refinement of a pose against the observed points: point-to-point ICP (Open3D) from the
model's visible surface at the estimated pose to the instance's back-projected depth."""
from __future__ import annotations

import numpy as np


def refine_icp(T_cam_obj: np.ndarray, observed_m: np.ndarray, model_pts_m: np.ndarray, diameter_m: float,
               iterations: int = 30) -> np.ndarray:
    """Refined ``T_cam_obj`` (4x4, metres); the input pose when ICP finds too few correspondences.

    Args:
        observed_m: (N, 3) observed points of the instance, camera frame.
        model_pts_m: (M, 3) model surface points, object frame.
    """
    import open3d as o3d

    from binpick.geometry import visible_points

    model_cam = model_pts_m @ T_cam_obj[:3, :3].T + T_cam_obj[:3, 3]
    source = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(visible_points(model_cam, diameter_m)))
    target = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(observed_m, dtype=np.float64)))
    result = o3d.pipelines.registration.registration_icp(
        source, target, 0.1 * diameter_m, np.eye(4),
        o3d.pipelines.registration.TransformationEstimationPointToPoint(),
        o3d.pipelines.registration.ICPConvergenceCriteria(max_iteration=iterations))
    if result.fitness < 0.3:
        return T_cam_obj
    return result.transformation @ T_cam_obj
