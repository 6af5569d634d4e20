"""Verification scores of pose hypotheses (paper Sec. 3.3): render the part at the estimated pose,
compare with what the camera saw in 2D (mask overlap Eq. 3, perceptual distance Eq. 4) and in 3D
(Chamfer distance Eq. 5). One implementation, used offline (``binpick selftrain``) and online (the
pseudo-label recorder node).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from binpick.catalog.catalog import CatalogObject
from binpick.data.bop import mask_bbox
from binpick.geometry import backproject, chamfer_distance, visible_points
from binpick.selftrain.perceptual import PerceptualDistance
from binpick.sim.camera import PinholeCamera
from binpick.sim.object_renderer import ObjectRenderer

GEOMETRY_MODES = ('visible', 'whole')


@dataclass
class CandidateScore:
    """Scores of one pose hypothesis; lower is better. ``d_geo_m`` in metres."""

    d_mask: float
    d_image: float
    d_geo_m: float

    @property
    def d_appearance(self) -> float:
        """d_a = d_mask x d_image."""
        return self.d_mask * self.d_image


def mask_similarity(M_r: np.ndarray, M_o: np.ndarray) -> float:
    """Eq. 3: mean of the share of the observed foreground covered by the rendered mask and the share
    of the rendered background that is observed background (both bool, same window)."""
    fg, bg = M_o.sum(), (~M_r).sum()
    covered = (M_o & M_r).sum() / fg if fg else 0.0
    clear = (~M_r & ~M_o).sum() / bg if bg else 0.0
    return float(0.5 * (covered + clear))


def observed_points(depth_m: np.ndarray, K: np.ndarray, mask: np.ndarray, max_points: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Up to ``max_points`` back-projected points (camera frame, metres) of the mask's valid depth."""
    vs, us = np.nonzero(mask & np.isfinite(depth_m) & (depth_m > 0))
    if len(us) > max_points:
        pick = rng.choice(len(us), max_points, replace=False)
        us, vs = us[pick], vs[pick]
    return backproject(us, vs, depth_m, K)


class PoseScorer:
    """Scores pose hypotheses of one object.

    Args:
        obj: the catalog object (mesh, diameter).
        perceptual: the perceptual distance (default: ``PerceptualDistance('auto')``).
        geometry: ``visible`` (paper: visible model surface by hidden point removal) or ``whole``
            (authors' code: all model points).
        crop_px: side of the crops compared perceptually.
        model_points, max_observed_points: point counts for the Chamfer distance.
    """

    def __init__(self, obj: CatalogObject, perceptual: PerceptualDistance | None = None, geometry: str = 'visible',
                 crop_px: int = 64, model_points: int = 1000, max_observed_points: int = 1000) -> None:
        if geometry not in GEOMETRY_MODES:
            raise ValueError(f'geometry must be one of {GEOMETRY_MODES}, not {geometry!r}')
        self.obj, self.geometry, self.crop_px, self.max_observed = obj, geometry, crop_px, max_observed_points
        self.perceptual = perceptual or PerceptualDistance()
        self.renderer = ObjectRenderer(obj.mesh)
        self.model_pts = obj.sample_points(model_points)

    @property
    def description(self) -> dict:
        return {'perceptual': self.perceptual.name, 'geometry': self.geometry, 'crop_px': self.crop_px}

    def _window(self, mask: np.ndarray, T_cam_obj: np.ndarray, camera: PinholeCamera) -> tuple[int, int, int]:
        """Square window (x0, y0, side) covering the mask and the projected model, 10 % margin."""
        x, y, w, h = mask_bbox(mask)
        pts = self.model_pts @ T_cam_obj[:3, :3].T + T_cam_obj[:3, 3]
        corners = np.vstack([[[x, y], [x + w, y + h]], camera.project(pts[pts[:, 2] > 1e-3])])
        lo = np.maximum(corners.min(axis=0), 0)
        hi = np.minimum(corners.max(axis=0), [camera.width, camera.height])
        side = int(np.ceil(max(hi - lo) * 1.1)) + 2
        side = min(side, camera.width, camera.height)
        centre = (lo + hi) / 2
        x0 = int(np.clip(round(centre[0] - side / 2), 0, camera.width - side))
        y0 = int(np.clip(round(centre[1] - side / 2), 0, camera.height - side))
        return x0, y0, side

    def score(self, rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray, masks: list[np.ndarray],
              poses: list[np.ndarray], seed: int = 0) -> list[CandidateScore]:
        """Scores of each (mask, ``T_cam_obj``) pair of one frame (RGB uint8, depth in metres, K 3x3)."""
        if len(masks) != len(poses):
            raise ValueError(f'{len(masks)} masks but {len(poses)} poses')
        h, w = depth_m.shape
        camera = PinholeCamera(np.asarray(K, dtype=np.float64), w, h)
        rng = np.random.default_rng(seed)
        partial, rendered, observed = [], [], []
        for mask, T in zip(masks, poses):
            x0, y0, side = self._window(mask, T, camera)
            view = self.renderer.render(T, camera.crop(x0, y0, side, side))
            M_o = mask[y0:y0 + side, x0:x0 + side]
            d_mask = 1.0 - mask_similarity(view.mask, M_o)
            obs = rgb[y0:y0 + side, x0:x0 + side] * view.mask[..., None]   # observed, where the part should be
            size = (self.crop_px, self.crop_px)
            rendered.append(cv2.resize(view.rgb, size, interpolation=cv2.INTER_AREA))
            observed.append(cv2.resize(np.ascontiguousarray(obs, dtype=np.uint8), size, interpolation=cv2.INTER_AREA))
            model = self.model_pts @ T[:3, :3].T + T[:3, 3]
            if self.geometry == 'visible':
                model = visible_points(model, self.obj.info.diameter_m)
            d_geo = chamfer_distance(model, observed_points(depth_m, K, mask, self.max_observed, rng))
            partial.append((d_mask, d_geo))
        d_image = self.perceptual(np.stack(rendered), np.stack(observed)) if rendered else []
        return [CandidateScore(float(dm), float(di), float(dg)) for (dm, dg), di in zip(partial, d_image)]
