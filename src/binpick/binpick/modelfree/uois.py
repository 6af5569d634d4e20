"""Class-agnostic instance segmentation of an RGB-D frame: a trained UCN (``binpick train-uois``) or a
class-agnostic Mask R-CNN (``binpick train-seg --class-agnostic``), behind one interface."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import torch

from binpick.modelfree.mean_shift import ClusterConfig, Instance, cluster_instances
from binpick.modelfree.ucn import UcnConfig, UcnNet, network_size, points_input
from binpick.perception import checkpoint

KIND = 'uois'


def network_inputs(rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(3,h,w) RGB in [0, 1] and (4,h,w) points of one frame at the network's size (``network_size``)."""
    h, w = depth_m.shape
    size = network_size(w, h, scale)
    points = points_input(depth_m, K)
    rgb_small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA).astype(np.float32).transpose(2, 0, 1) / 255.0
    points_small = np.stack([cv2.resize(c, size, interpolation=cv2.INTER_NEAREST) for c in points])
    return rgb_small, points_small


class UoisSegmenter:
    """A trained UCN ready for inference on the CPU: instances of parts nobody registered."""

    def __init__(self, model: UcnNet, config: UcnConfig, clustering: ClusterConfig | None = None) -> None:
        self.model, self.config, self.clustering = model.eval(), config, clustering or ClusterConfig()

    @classmethod
    def load(cls, path: str | Path, clustering: ClusterConfig | None = None) -> UoisSegmenter:
        """Load a ``binpick train-uois`` checkpoint; ``clustering``: settings other than the defaults."""
        raw = checkpoint.load(path, KIND)
        config = UcnConfig(**raw['config'])
        model = UcnNet(config, pretrained=False)
        model.load_state_dict(raw['model'])
        return cls(model, config, clustering)

    @torch.no_grad()
    def segment(self, rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray) -> list[Instance]:
        """Instances (HxW bool masks at the frame's size, best first) of an HxWx3 uint8 RGB frame with its
        depth (metres, 0 = none) and 3x3 intrinsics."""
        if rgb.shape[:2] != depth_m.shape:
            raise ValueError(f'RGB {rgb.shape[:2]} and depth {depth_m.shape} differ in size')
        rgb_in, points_in = network_inputs(rgb, depth_m, K, self.config.input_scale)
        out = self.model(torch.from_numpy(rgb_in)[None], torch.from_numpy(points_in)[None])
        small = cluster_instances(out['embedding'][0], out['foreground'][0, 0], self.clustering,
                                  pixel_area=self.config.input_scale ** -2)
        h, w = depth_m.shape
        return [Instance(cv2.resize(i.mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0, i.score)
                for i in small]


def save(path: str | Path, model: UcnNet, config: UcnConfig, **extra) -> None:
    """Write a UOIS checkpoint (config, weights and ``extra``), atomically."""
    checkpoint.save(path, KIND, {'config': asdict(config), 'model': model.state_dict(), **extra})


class AgnosticMaskRcnn:
    """A class-agnostic Mask R-CNN (``binpick train-seg --class-agnostic``) with the UCN's interface; it
    reads the RGB, and the depth if it was trained with it (``--depth``)."""

    def __init__(self, segmenter) -> None:
        self.segmenter = segmenter

    def segment(self, rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray) -> list[Instance]:
        """Instances (HxW bool masks, best first) above the model's score threshold."""
        return [Instance(i.mask, i.score) for i in self.segmenter.segment(rgb, depth_m)]


def load_segmenter(path: str | Path, score_threshold: float = 0.5) -> UoisSegmenter | AgnosticMaskRcnn:
    """The class-agnostic segmenter in a checkpoint of either kind; a Mask R-CNN keeps instances scored at
    least ``score_threshold``."""
    from binpick.perception import segmentation
    if checkpoint.load(path, (KIND, segmentation.KIND))['kind'] == KIND:
        return UoisSegmenter.load(path)
    segmenter = segmentation.Segmenter.load(path, score_threshold=score_threshold)
    if segmenter.config.object_names != [segmentation.ANY_PART]:
        names = ', '.join(segmenter.config.object_names)
        raise checkpoint.CheckpointError(f'{path}: a segmentation model for {names}, not a class-agnostic one '
                                         '(binpick train-seg --class-agnostic)')
    return AgnosticMaskRcnn(segmenter)
