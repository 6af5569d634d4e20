"""A picture of one model-free pick decision: the masks, the pick cost map and the grasp chosen from it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from binpick.data import atomic
from binpick.geometry import invert, transform_points
from binpick.grasp.pipeline import PickDecision
from binpick.modelfree.first_pick import CostMap, label_image
from binpick.sim.camera import PinholeCamera


def finger_pixels(T_base_tcp: np.ndarray, opening_m: float, T_base_cam: np.ndarray,
                  camera: PinholeCamera) -> np.ndarray:
    """(2, 2) pixel (u, v) of the two fingers' centres, open to ``opening_m``, at a TCP pose (base frame,
    metres; the closing axis is the TCP's y)."""
    half = T_base_tcp[:3, 1] * opening_m / 2
    fingers_base = np.stack([T_base_tcp[:3, 3] - half, T_base_tcp[:3, 3] + half])
    return camera.project(transform_points(invert(T_base_cam), fingers_base))


def save_cost_map_figure(path: str | Path, rgb: np.ndarray, masks: list[np.ndarray], cost: CostMap,
                         decision: PickDecision, K: np.ndarray, T_base_cam: np.ndarray, title: str = '') -> Path:
    """Save RGB with the instance masks | the cost map (0-1, blank off the masks) | the chosen grasp (the
    fingers open, drawn on the image; or why there is none) as a PNG at ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    labels = label_image(masks, rgb.shape[:2]).astype(float)
    labels[labels == 0] = np.nan
    score = np.where(cost.score > 0, cost.score, np.nan)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    axes[0].imshow(rgb)
    axes[0].imshow(labels, cmap='tab20', alpha=0.55, interpolation='nearest')
    axes[0].set_title(f'{len(masks)} instance masks')
    axes[1].imshow(rgb // 3)
    im = axes[1].imshow(score, cmap='viridis', vmin=0, vmax=1, interpolation='nearest')
    fig.colorbar(im, ax=axes[1], fraction=0.035, label='pick score')
    axes[1].set_title('cost map (height, unoccluded, interior, flat)')
    axes[2].imshow(rgb)
    if decision.candidate is not None:
        c = decision.candidate
        uv = finger_pixels(c.T_base_tcp, c.opening_m, T_base_cam, PinholeCamera(K, rgb.shape[1], rgb.shape[0]))
        axes[2].contour(masks[c.instance], levels=[0.5], colors='yellow', linewidths=1)
        axes[2].plot(uv[:, 0], uv[:, 1], '-', color='red', lw=2)
        axes[2].plot(uv[:, 0], uv[:, 1], 's', color='red', ms=6)
        axes[2].set_title(f'grasp: instance {c.instance}, opening {1000 * c.opening_m:.0f} mm, '
                          f'{decision.candidates} candidates')
    else:
        axes[2].set_title(f'no pick: {decision.reason}')
    for ax in axes:
        ax.axis('off')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    atomic.write_figure(path, fig, dpi=80)
    return Path(path)
