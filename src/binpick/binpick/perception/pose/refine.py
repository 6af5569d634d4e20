"""Refinement and verification of pose hypotheses against the observed depth.

Each hypothesis is refined by point-to-point ICP (Open3D) from the model's visible surface (hidden
point removal) to the instance's back-projected points, then verified by the Chamfer distance between
the two (the paper's Eq. 5, the geometric score of self-training). ICP that diverges (too few
correspondences, or a jump far from the hypothesis) falls back to the unrefined hypothesis.

Point-to-plane ICP was tried and rejected: the parts are made of flat faces, along which
point-to-plane slides freely (in one comparison on 10 real-emulated images with ground-truth masks,
about 40 % against 70 % ADD recall for point-to-point; not kept as a bench script).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from binpick.catalog.catalog import CatalogObject
from binpick.geometry import chamfer_distance, visible_points


@dataclass(frozen=True)
class RefineConfig:
    """Settings of the refinement (distances as fractions of the object diameter)."""

    iterations: int = 30
    max_correspondence: float = 0.1
    min_fitness: float = 0.3           # share of model points with a correspondence; below: diverged
    max_jump: float = 0.5              # translation change allowed, x diameter; above: diverged
    fit_margin_m: float = 0.0005       # fits this close to the best count as a tie, won by the most certain


@dataclass
class Refinement:
    """One refined hypothesis: ``T_cam_obj`` (4x4, metres), its Chamfer distance to the observed points
    (``d_geo_m``, metres) and why it fell back to the unrefined hypothesis (empty when it did not)."""

    T_cam_obj: np.ndarray
    d_geo_m: float
    fell_back: str = ''


class PoseRefiner:
    """ICP and geometric verification of one object's hypotheses (camera frame, metres)."""

    def __init__(self, obj: CatalogObject, config: RefineConfig | None = None, model_points: int = 400) -> None:
        self.config = config or RefineConfig()
        self.diameter_m = obj.info.diameter_m
        self.symmetric = obj.info.is_symmetric
        self.model_pts = obj.sample_points(model_points)

    def visible_model(self, T_cam_obj: np.ndarray) -> np.ndarray:
        """The model points seen from the camera at ``T_cam_obj`` (camera frame, metres)."""
        return visible_points(self.model_pts @ T_cam_obj[:3, :3].T + T_cam_obj[:3, 3], self.diameter_m)

    def refine(self, T_cam_obj: np.ndarray, observed_m: np.ndarray) -> Refinement:
        """Refine one hypothesis against the observed points ((N, 3), camera frame); falls back on divergence."""
        import open3d as o3d
        c = self.config
        reg = o3d.pipelines.registration
        source = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(self.visible_model(T_cam_obj)))
        target = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(observed_m, dtype=np.float64)))
        result = reg.registration_icp(source, target, c.max_correspondence * self.diameter_m, np.eye(4),
                                      reg.TransformationEstimationPointToPoint(),
                                      reg.ICPConvergenceCriteria(max_iteration=c.iterations))
        T = result.transformation @ T_cam_obj
        jump = float(np.linalg.norm(T[:3, 3] - T_cam_obj[:3, 3]))
        reason = ''
        if result.fitness < c.min_fitness:
            reason = f'ICP fitness {result.fitness:.2f} < {c.min_fitness}'
        elif jump > c.max_jump * self.diameter_m:
            reason = f'ICP moved the pose {1000 * jump:.0f} mm (> {c.max_jump} x diameter)'
        if reason:
            T = T_cam_obj
        return Refinement(T, chamfer_distance(self.visible_model(T), observed_m), reason)

    def distinct(self, hypotheses: list[np.ndarray], min_distance: float = 0.1, limit: int | None = None) -> list[int]:
        """Indices of the hypotheses to keep, in order, at most ``limit``: each one within ``min_distance`` x
        diameter (ADD, or ADD-S for a symmetric part) of an earlier kept one is dropped, since anchors that
        are equal under the part's symmetry add nothing."""
        from scipy.spatial import cKDTree
        pts = self.model_pts[::8]
        kept: list[int] = []
        cams: list[np.ndarray] = []   # the kept hypotheses' model points in the camera frame
        for i, T in enumerate(hypotheses):
            if limit is not None and len(kept) >= limit:
                break
            cam = pts @ T[:3, :3].T + T[:3, 3]
            near = [cKDTree(other).query(cam)[0].mean() if self.symmetric
                    else np.linalg.norm(cam - other, axis=1).mean() for other in cams]
            if all(d >= min_distance * self.diameter_m for d in near):
                kept.append(i)
                cams.append(cam)
        return kept

    def best(self, hypotheses: list[np.ndarray], observed_m: np.ndarray) -> tuple[int, Refinement]:
        """Refine every hypothesis (most certain first) and return the index and refinement of the first one
        whose Chamfer distance to the observed points is within ``fit_margin_m`` of the smallest: the fit
        decides, and the network's certainty breaks near-ties (`bench/hypotheses.py`)."""
        refined = [self.refine(T, observed_m) for T in hypotheses]
        d_geo_m = np.array([r.d_geo_m for r in refined])
        d_geo_m[~np.isfinite(d_geo_m)] = np.inf
        ties = np.flatnonzero(d_geo_m <= d_geo_m.min() + self.config.fit_margin_m)
        i = int(ties[0]) if len(ties) else 0
        return i, refined[i]
