"""Mask average precision with pycocotools (COCO's AP over IoU 0.5:0.95, AP50, AP75)."""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np

from binpick.data.bop import mask_bbox


@dataclass
class MaskSet:
    """Masks of one image: ground truth (scores ignored) or predictions."""

    image_id: int
    masks: list[np.ndarray]       # HxW bool each
    labels: list[int]
    scores: list[float] | None = None
    ignore: list[bool] | None = None  # ground truth only: instances not counted either way (COCO iscrowd)


def _rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_util
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def mask_ap(ground_truth: list[MaskSet], predictions: list[MaskSet], n_labels: int) -> dict[str, float]:
    """COCO mask AP, AP50 and AP75 of ``predictions`` against ``ground_truth`` (labels 1..n_labels)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations = [], []
    for g in ground_truth:
        h, w = g.masks[0].shape if g.masks else (1, 1)
        images.append({'id': g.image_id, 'height': int(h), 'width': int(w)})
        for k, (m, label) in enumerate(zip(g.masks, g.labels)):
            x, y, w, h = mask_bbox(m)
            if w < 0:
                continue
            annotations.append({'id': len(annotations) + 1, 'image_id': g.image_id, 'category_id': int(label),
                                'segmentation': _rle(m), 'area': float(m.sum()),
                                'bbox': [float(x), float(y), float(w), float(h)],
                                'iscrowd': int(bool(g.ignore[k])) if g.ignore else 0})
    results = [{'image_id': p.image_id, 'category_id': int(label), 'segmentation': _rle(m), 'score': float(s)}
               for p in predictions for m, label, s in zip(p.masks, p.labels, p.scores or [])]
    if not annotations:
        return {'AP': 0.0, 'AP50': 0.0, 'AP75': 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco = COCO()
        coco.dataset = {'images': images, 'annotations': annotations,
                        'categories': [{'id': k} for k in range(1, n_labels + 1)]}
        coco.createIndex()
        if not results:
            return {'AP': 0.0, 'AP50': 0.0, 'AP75': 0.0}
        evaluator = COCOeval(coco, coco.loadRes(results), iouType='segm')
        evaluator.params.maxDets = [1, 10, 100]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats
    return {'AP': max(0.0, float(stats[0])), 'AP50': max(0.0, float(stats[1])), 'AP75': max(0.0, float(stats[2]))}
