"""One perceived frame rebuilt from its messages (colour, depth, camera info, instances[, poses]), checked
so that a bad message is refused with its topic before any model sees it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from binpick.nodes import base, msgs


@dataclass
class PerceivedFrame:
    rgb: np.ndarray
    depth_m: np.ndarray
    K: np.ndarray
    masks: list[np.ndarray]
    object_ids: list[str]


def perceived_frame(m: dict) -> PerceivedFrame:
    """From a StampSync entry with keys color, depth, info, instances."""
    rgb = msgs.image_array(m['color'], base.COLOR)
    if rgb.ndim != 3:
        raise msgs.BadMessage(f'{base.COLOR}: encoding {m["color"].encoding!r} is not a colour image')
    depth_m = msgs.depth_array(m['depth'], base.DEPTH)
    if depth_m.shape != rgb.shape[:2]:
        raise msgs.BadMessage(f'{base.DEPTH}: {depth_m.shape[1]}x{depth_m.shape[0]} does not match the colour '
                              f'image {rgb.shape[1]}x{rgb.shape[0]}')
    K = msgs.camera_matrix(m['info'], base.INFO, rgb.shape[:2])
    seg = m['instances']
    labels = msgs.image_array(seg.label_image, f'{base.INSTANCES}.label_image')
    if labels.shape != rgb.shape[:2] or labels.dtype != np.uint16:
        raise msgs.BadMessage(f'{base.INSTANCES}: label image {seg.label_image.width}x{seg.label_image.height} '
                              f'{seg.label_image.encoding} does not match the colour image')
    masks = [labels == inst.label for inst in seg.instances]
    return PerceivedFrame(rgb, depth_m, K, masks, [inst.object_id for inst in seg.instances])
