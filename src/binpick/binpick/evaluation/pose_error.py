"""Pose errors between an estimated and a ground-truth pose, in metres.

ADD and ADD-S as defined by Hinterstoisser et al., ACCV 2012 (ADD-S is ``adi`` in the BOP toolkit).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from binpick.geometry import transform_points


def add(T_est: np.ndarray, T_gt: np.ndarray, pts_m: np.ndarray) -> float:
    """Average Distance of model points (ADD).

    Args:
        T_est: 4x4 estimated pose T_cam_obj (metres).
        T_gt: 4x4 ground-truth pose T_cam_obj (metres).
        pts_m: (N, 3) model points in the object frame (metres).

    Returns:
        Mean distance between corresponding transformed points, metres.
    """
    d = transform_points(T_est, pts_m) - transform_points(T_gt, pts_m)
    return float(np.linalg.norm(d, axis=1).mean())


def adds(T_est: np.ndarray, T_gt: np.ndarray, pts_m: np.ndarray) -> float:
    """ADD-S: mean distance from each ground-truth point to the nearest estimated point.

    Same arguments as :func:`add`; nearest neighbours are found with a KD-tree.
    """
    est = transform_points(T_est, pts_m)
    gt = transform_points(T_gt, pts_m)
    dist, _ = cKDTree(est).query(gt, k=1)
    return float(dist.mean())


def add_or_adds(T_est: np.ndarray, T_gt: np.ndarray, pts_m: np.ndarray, symmetric: bool) -> float:
    """ADD-S for symmetric objects, ADD otherwise (the paper's ADD(-S)), metres."""
    return adds(T_est, T_gt, pts_m) if symmetric else add(T_est, T_gt, pts_m)


def is_correct(error_m, diameter_m: float, fraction: float = 0.1):
    """A pose is correct when its ADD(-S) error is below ``fraction`` of the object diameter.

    ``error_m`` may be a float or an array of errors (then an array of bools is returned).
    """
    return error_m < fraction * diameter_m
