"""Pose inference on a frame: RGB-D + instance masks -> ``T_cam_obj`` and a confidence per instance.

One path for the cell node, the evaluation and self-training, in three settings (``INFERENCE``):

- ``net``: the network alone (the most certain anchor, RANSAC-voted centre);
- ``icp``: that pose refined by ICP against the observed points;
- ``full`` (default): the ``hypotheses`` most certain anchors, those equal under the part's symmetry
  dropped, each refined by ICP; the one that best matches the observed points (Chamfer distance, the
  paper's Eq. 5) is kept, the network's certainty breaking near-ties. A confident network thus costs one
  or two ICP runs per instance, an unsure one up to ``hypotheses`` (`bench/hypotheses.py`).

Instances that cannot be estimated (too few depth points, mask outside the image ...) are returned
with the reason instead of a pose; the frame never fails because of one instance. A refinement that
diverges falls back to the unrefined hypothesis and says so in ``PoseResult.note``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from binpick.catalog import Catalog
from binpick.geometry import make_T
from binpick.perception import checkpoint
from binpick.perception.pose.inputs import SkipInstance, prepare_instance
from binpick.perception.pose.network import PoseNet, PoseNetConfig, ranked_rotations
from binpick.perception.pose.refine import PoseRefiner
from binpick.perception.pose.voting import vote_center

KIND = 'pose'
INFERENCE = ('net', 'icp', 'full')
DEFAULT_HYPOTHESES = 5    # anchors; on the zigzag LB with GT masks 92.7 % at 1.4 ICP runs (10: 91.4 % at 3.7)


@dataclass
class PoseResult:
    """Estimate of one instance: ``T_cam_obj`` (4x4, metres) and confidence, or why it was skipped.

    ``d_geo_m``: Chamfer distance of the refined pose to the observed points (NaN without refinement);
    ``note``: why the refinement fell back to the network's pose, when it did.
    """

    T_cam_obj: np.ndarray | None
    confidence: float
    skipped: str = ''
    d_geo_m: float = float('nan')
    note: str = ''


@dataclass
class InstanceHypotheses:
    """The network's poses for one instance (``T_cam_obj`` 4x4 metres, confidence), most certain first, and
    its observed points (camera frame, metres); or why it was skipped."""

    poses: list[tuple[np.ndarray, float]]
    observed_m: np.ndarray | None
    skipped: str = ''


class PoseEstimator:
    """A trained pose network for one object, with the inference path of ``inference``."""

    def __init__(self, net: PoseNet, device: str = 'cpu', refiner: PoseRefiner | None = None,
                 hypotheses: int = 1) -> None:
        """``refiner``: refine poses against the observed points (``None``: the network alone);
        ``hypotheses``: anchors tried per instance (the best after refinement is kept)."""
        if hypotheses < 1:
            raise ValueError(f'hypotheses must be at least 1, got {hypotheses}')
        self.net, self.config, self.device = net.to(device).eval(), net.config, device
        self.refiner, self.hypotheses = refiner, hypotheses

    @classmethod
    def load(cls, path: str | Path, catalog: Catalog | None = None, object_name: str | None = None,
             inference: str = 'full', hypotheses: int = DEFAULT_HYPOTHESES,
             points: int | None = None) -> PoseEstimator:
        """Load a pose checkpoint with an inference path (``INFERENCE``); refuses a checkpoint for another
        object (``object_name``) or changed CAD. ``points``: points sampled per instance instead of the
        checkpoint's own ``n_points`` (fewer is faster; the network pools over any number)."""
        if inference not in INFERENCE:
            raise ValueError(f'inference must be one of {", ".join(INFERENCE)}, not {inference!r}')
        catalog = catalog or Catalog()
        raw = checkpoint.load(path, KIND)
        config = PoseNetConfig(**raw['config'])
        if points is not None:
            if points < 16:
                raise ValueError(f'points must be at least 16, got {points}')
            config = replace(config, n_points=points)
        if object_name is not None and config.object_name != object_name:
            raise checkpoint.CheckpointError(f'{path}: a pose model for {config.object_name!r}, not {object_name!r}')
        checkpoint.check_objects(path, raw, {config.object_name: catalog.get(config.object_name).fingerprint})
        net = PoseNet(config, pretrained_backbone=False)
        net.load_state_dict(raw['model'])
        refiner = PoseRefiner(catalog.get(config.object_name)) if inference != 'net' else None
        return cls(net, refiner=refiner, hypotheses=hypotheses if inference == 'full' else 1)

    def estimate(self, rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray, masks: list[np.ndarray],
                 seed: int = 0) -> list[PoseResult]:
        """One PoseResult per mask, in order (batched through the network)."""
        return [PoseResult(None, 0.0, h.skipped) if h.skipped else self._finish(h.poses, h.observed_m)
                for h in self.candidate_poses(rgb, depth_m, K, masks, np.random.default_rng(seed))]

    @torch.no_grad()
    def candidate_poses(self, rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray, masks: list[np.ndarray],
                        rng: np.random.Generator) -> list[InstanceHypotheses]:
        """The network's hypotheses for each mask, in order (batched): the ``hypotheses`` most certain
        anchors, most certain first, when this estimator chooses among several; the most certain one otherwise."""
        found: list[InstanceHypotheses | None] = [None] * len(masks)
        inputs, index = [], []
        for i, mask in enumerate(masks):
            try:
                inputs.append(prepare_instance(rgb, depth_m, K, mask, self.config.n_points, self.config.crop_px, rng))
                index.append(i)
            except SkipInstance as e:
                found[i] = InstanceHypotheses([], None, str(e))
        if inputs:
            stack = lambda name: torch.from_numpy(np.stack([getattr(x, name) for x in inputs])).to(self.device)  # noqa: E731
            out = self.net(stack('crop'), stack('points'), stack('point_rgb'), stack('point_uv'))
            for k, (i, x) in enumerate(zip(index, inputs)):
                n = min(self.hypotheses, len(out['sigma'][k])) if self.refiner is not None else 1
                rotations = ranked_rotations(out['R'][k], out['sigma'][k], n)
                centre, inliers = vote_center(x.observed, out['vectors'][k].cpu().numpy().astype(np.float64), rng=rng)
                found[i] = InstanceHypotheses([(make_T(R, centre), conf * inliers) for R, conf in rotations],
                                              x.observed)
        return found

    def _finish(self, hypotheses: list[tuple[np.ndarray, float]], observed_m: np.ndarray) -> PoseResult:
        """Refine (and choose among) an instance's hypotheses, most certain first, those equal to a more
        certain one under the part's symmetry dropped."""
        if self.refiner is None:
            return PoseResult(*hypotheses[0])
        kept = [hypotheses[k] for k in self.refiner.distinct([T for T, _ in hypotheses])]
        i, refined = self.refiner.best([T for T, _ in kept], observed_m)
        note = f'refinement fell back to the network pose: {refined.fell_back}' if refined.fell_back else ''
        return PoseResult(refined.T_cam_obj, kept[i][1], d_geo_m=refined.d_geo_m, note=note)


def save(path: str | Path, net: PoseNet, catalog: Catalog, **extra) -> None:
    """Write a pose checkpoint (config, object fingerprint, weights, ``extra``)."""
    checkpoint.save(path, KIND, {'config': asdict(net.config), 'model': net.state_dict(),
                                 'objects': {net.config.object_name: catalog.get(net.config.object_name).fingerprint},
                                 **extra})
