"""Pose inference on a frame: RGB-D + instance masks -> ``T_cam_obj`` and a confidence per instance.

Instances that cannot be estimated (too few depth points, mask outside the image ...) are returned
with the reason instead of a pose; the frame never fails because of one instance.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from binpick.catalog import Catalog
from binpick.catalog.catalog import CatalogObject
from binpick.geometry import make_T
from binpick.perception import checkpoint
from binpick.perception.pose.icp import refine_icp
from binpick.perception.pose.inputs import SkipInstance, prepare_instance
from binpick.perception.pose.network import PoseNet, PoseNetConfig, best_rotation
from binpick.perception.pose.voting import vote_center

KIND = 'pose'


@dataclass
class PoseResult:
    """Estimate of one instance: ``T_cam_obj`` (4x4, metres) and confidence, or why it was skipped."""

    T_cam_obj: np.ndarray | None
    confidence: float
    skipped: str = ''


class PoseEstimator:
    """A trained pose network for one object."""

    def __init__(self, net: PoseNet, device: str = 'cpu', icp_object: CatalogObject | None = None) -> None:
        """``icp_object``: refine each pose against the observed points with this object's model
        (:func:`~.icp.refine_icp`); ``None``: no refinement."""
        self.net, self.config, self.device = net.to(device).eval(), net.config, device
        self._icp_model = (icp_object.sample_points(1000), icp_object.info.diameter_m) if icp_object else None

    @classmethod
    def load(cls, path: str | Path, catalog: Catalog | None = None, object_name: str | None = None,
             icp: bool = False) -> 'PoseEstimator':
        """Load a pose checkpoint; refuses one for another object (``object_name``) or changed CAD."""
        catalog = catalog or Catalog()
        raw = checkpoint.load(path, KIND)
        config = PoseNetConfig(**raw['config'])
        if object_name is not None and config.object_name != object_name:
            raise checkpoint.CheckpointError(f'{path}: a pose model for {config.object_name!r}, not {object_name!r}')
        checkpoint.load(path, KIND, {config.object_name: catalog.get(config.object_name).fingerprint})
        net = PoseNet(config, pretrained_backbone=False)
        net.load_state_dict(raw['model'])
        return cls(net, icp_object=catalog.get(config.object_name) if icp else None)

    @torch.no_grad()
    def estimate(self, rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray, masks: list[np.ndarray],
                 seed: int = 0) -> list[PoseResult]:
        """One PoseResult per mask, in order (batched through the network)."""
        rng = np.random.default_rng(seed)
        results: list[PoseResult | None] = [None] * len(masks)
        inputs, index = [], []
        for i, mask in enumerate(masks):
            try:
                inputs.append(prepare_instance(rgb, depth_m, K, mask, self.config.n_points, self.config.crop_px, rng))
                index.append(i)
            except SkipInstance as e:
                results[i] = PoseResult(None, 0.0, str(e))
        if inputs:
            stack = lambda name: torch.from_numpy(np.stack([getattr(x, name) for x in inputs])).to(self.device)  # noqa: E731
            out = self.net(stack('crop'), stack('points'), stack('point_rgb'), stack('point_uv'))
            for k, (i, x) in enumerate(zip(index, inputs)):
                R, conf = best_rotation(out['R'][k], out['sigma'][k])
                centre, inliers = vote_center(x.observed, out['vectors'][k].cpu().numpy().astype(np.float64), rng=rng)
                T = make_T(R, centre)
                if self._icp_model is not None:
                    T = refine_icp(T, x.observed, *self._icp_model)
                results[i] = PoseResult(T, conf * inliers)
        return results


def save(path: str | Path, net: PoseNet, catalog: Catalog, **extra) -> None:
    """Write a pose checkpoint (config, object fingerprint, weights, ``extra``)."""
    checkpoint.save(path, KIND, {'config': asdict(net.config), 'model': net.state_dict(),
                                 'objects': {net.config.object_name: catalog.get(net.config.object_name).fingerprint},
                                 **extra})
