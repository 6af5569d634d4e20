"""A PNG grid of RGB, depth and visible masks for every domain, so a person can see the gap."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from binpick.catalog.catalog import CatalogObject
from binpick.data import atomic
from binpick.sim.domains import DOMAINS, PATH_TRACED
from binpick.sim.generator import CellConfig, SceneGenerator


def label_image(masks_visib: list[np.ndarray]) -> np.ndarray:
    """HxW int label image (0 = background, k = instance k-1) from visible masks."""
    labels = np.zeros(masks_visib[0].shape if masks_visib else (1, 1), np.int32)
    for k, m in enumerate(masks_visib):
        labels[m] = k + 1
    return labels


def save_preview(obj: CatalogObject, cell: CellConfig, path: str | Path, seed: int = 0,
                 n_objects: int = 20, domains: tuple[str, ...] = DOMAINS) -> Path:
    """Render one bin of ``obj`` per domain and save RGB | depth | masks rows as a PNG at ``path``.

    The path-traced domain is left out, with a note on stderr, where ``bpy`` is not installed.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from binpick.sim.pbr_renderer import RenderError, import_bpy
    try:
        import_bpy()
    except RenderError as e:
        print(f'preview: {e}; showing the other domains', file=sys.stderr)
        domains = tuple(d for d in domains if d not in PATH_TRACED)
    fig, axes = plt.subplots(len(domains), 3, figsize=(15, 4.2 * len(domains)), squeeze=False)
    for row, domain in enumerate(domains):
        generator = SceneGenerator(obj, domain, cell)
        try:
            frame = generator.generate(seed, n_objects, 1)[0]
        finally:
            generator.close()
        objects = np.any(frame.masks_visib, axis=0)
        no_depth = float((frame.depth_m[objects] == 0).mean()) if objects.any() else 0.0
        depth = np.where(frame.depth_m > 0, frame.depth_m, np.nan)
        lo, hi = np.nanpercentile(depth, [1, 99])
        labels = label_image(frame.masks_visib).astype(float)
        labels[labels == 0] = np.nan
        axes[row, 0].imshow(frame.rgb)
        axes[row, 0].set_title(f'{domain}: RGB')
        im = axes[row, 1].imshow(depth, cmap='turbo', vmin=lo, vmax=hi)
        axes[row, 1].set_title(f'{domain}: depth (m), {100 * no_depth:.1f} % of part pixels without depth')
        fig.colorbar(im, ax=axes[row, 1], fraction=0.035)
        axes[row, 2].imshow(frame.rgb // 3)
        axes[row, 2].imshow(labels, cmap='tab20', interpolation='nearest')
        axes[row, 2].set_title(f'{domain}: {len(frame.masks_visib)} visible masks')
        for ax in axes[row]:
            ax.axis('off')
    fig.suptitle(f'binpick synth preview: {obj.name}, {n_objects} parts, seed {seed}')
    fig.tight_layout()
    atomic.write_figure(path, fig, dpi=80)
    return Path(path)
