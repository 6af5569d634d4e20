"""Instance segmentation inference: RGB image -> instances (mask, box, score, object name).

The one function the segmentation node and the offline tools call. Models come from
``binpick train-seg`` checkpoints (``perception.checkpoint``, kind ``segmentation``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from binpick.catalog import Catalog
from binpick.perception import checkpoint
from binpick.perception.seg_data import image_tensor
from binpick.perception.seg_model import SegConfig, build_model, freeze_backbone_for_cpu

KIND = 'segmentation'
ANY_PART = '*'   # the object list of a class-agnostic model (``train-seg --class-agnostic``): one class, any part


@dataclass
class Instance:
    """One detected instance. ``mask`` HxW bool; ``box_xyxy`` pixels (x0, y0, x1, y1)."""

    mask: np.ndarray
    box_xyxy: np.ndarray
    score: float
    object_name: str


def check_image(rgb: np.ndarray) -> None:
    """Refuse what is not an HxWx3 uint8 RGB image with pixels."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        got = f'{rgb.dtype} {rgb.shape}' if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f'expected an HxWx3 uint8 RGB image, got {got}')
    if rgb.shape[0] < 16 or rgb.shape[1] < 16:
        raise ValueError(f'image of {rgb.shape[1]}x{rgb.shape[0]} pixels is too small (empty?)')


class Segmenter:
    """A trained segmentation model ready for inference on the CPU (or ``device``)."""

    def __init__(self, model: torch.nn.Module, config: SegConfig, score_threshold: float = 0.5,
                 nms_iou: float = 0.5, device: str = 'cpu') -> None:
        self.model, self.config = model.to(device).eval(), config
        self.score_threshold, self.device = score_threshold, device
        self.model.roi_heads.nms_thresh = nms_iou  # Mask R-CNN's own per-class box NMS
        # drop weaker boxes before the mask head rather than after it: the same instances (a weaker box never
        # suppresses a stronger one), without predicting and pasting masks nobody reads (6 % faster)
        self.model.roi_heads.score_thresh = score_threshold

    @classmethod
    def load(cls, path: str | Path, catalog: Catalog | None = None, freeze: bool = True,
             input_size_px: int | None = None, **kwargs) -> Segmenter:
        """Load a ``binpick train-seg`` checkpoint; refuses one trained for other objects or CAD.
        ``freeze``: on the CPU, the backbone as an optimised trace (``seg_model.freeze_backbone_for_cpu``).
        ``input_size_px``: resize frames so their short side is this instead of the size the
        model was trained at (``min_size``): smaller is faster and may find fewer parts."""
        catalog = catalog or Catalog()
        raw = checkpoint.load(path, KIND)
        config = SegConfig(**raw['config'])
        if input_size_px:
            config = config.at_size(input_size_px)
        for name in config.object_names:
            if name != ANY_PART and name not in catalog:
                raise checkpoint.CheckpointError(f'{path}: trained for {name!r}, which is not in the catalog')
        checkpoint.check_objects(path, raw, object_fingerprints(catalog, config.object_names))
        model = build_model(config, pretrained_backbone=False)
        model.load_state_dict(raw['model'])
        if freeze and kwargs.get('device', 'cpu') == 'cpu':
            freeze_backbone_for_cpu(model, config)
        return cls(model, config, **kwargs)

    @torch.no_grad()
    def segment(self, rgb: np.ndarray, depth_m: np.ndarray | None = None) -> list[Instance]:
        """Instances in an HxWx3 uint8 RGB image, best first, above the score threshold after NMS. A model
        with ``depth_input`` also needs the frame's HxW depth (metres, 0 = none); others ignore it."""
        check_image(rgb)
        if not self.config.depth_input:
            depth_m = None
        elif depth_m is None or depth_m.shape != rgb.shape[:2]:
            raise ValueError(f'this segmentation model reads depth: give an HxW depth image the size of the RGB '
                             f'{rgb.shape[:2]} (got {None if depth_m is None else depth_m.shape})')
        out = self.model([image_tensor(rgb, depth_m).to(self.device)])[0]   # (a copy: bag frames are read-only)
        keep = torch.nonzero(out['scores'] >= self.score_threshold).flatten().tolist()  # sorted by score
        names = self.config.object_names
        return [Instance(out['masks'][i, 0].cpu().numpy() >= self.config.mask_threshold, out['boxes'][i].cpu().numpy(),
                         float(out['scores'][i]), names[int(out['labels'][i]) - 1]) for i in keep]


def object_fingerprints(catalog: Catalog, object_names: list[str]) -> dict[str, str]:
    """What a checkpoint records of its objects: each name's CAD fingerprint (``ANY_PART``: none)."""
    return {n: 'class-agnostic' if n == ANY_PART else catalog.get(n).fingerprint for n in object_names}


def save(path: str | Path, model: torch.nn.Module, config: SegConfig, catalog: Catalog, **extra) -> None:
    """Write a segmentation checkpoint (config, object fingerprints, weights, and ``extra``)."""
    checkpoint.save(path, KIND, {'config': asdict(config), 'model': model.state_dict(),
                                 'objects': object_fingerprints(catalog, config.object_names),
                                 **extra})
