"""Render cost of the physically based domain against the rasterizer, and what the settings do to the look.

    .venv/bin/python bench/pbr_render_cost.py [--object zigzag_bracket] [--parts 25] [--repeats 2]

One settled bin, the cell's 640x480 camera, one stereo frame (left and right view, then semi-global
matching) per setting: the rasterizer (``real``), then Cycles at the shipped settings and at others (paths
per pixel, denoiser, glossy bounces). Prints seconds per stereo frame and each as a multiple of the
rasterizer's in the same run (the machine is shared: the ratios are the figure), and the share of part pixels
without depth. Writes ``results/pbr/render_cost.{json,md}`` and a grid of the looks, ``docs/pbr_settings.png``.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

SETTINGS = {   # name -> changes to PbrSettings()
    'shipped (16 paths, denoised, 4 glossy bounces)': {},
    '4 paths, denoised': {'samples': 4},
    '64 paths, denoised': {'samples': 64},
    '16 paths, no denoiser': {'denoise': False},
    '16 paths, 1 glossy bounce': {'glossy_bounces': 1, 'max_bounces': 3},
    'no projector': {'projector_power_w': 0.0},
    'clean steel (no oil, no dust)': {'oil_coverage': 0.0, 'dust_coverage': 0.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--object', default='zigzag_bracket')
    parser.add_argument('--parts', type=int, default=25)
    parser.add_argument('--repeats', type=int, default=2, help='stereo frames per setting (the median is kept)')
    parser.add_argument('--out', default='results/pbr')
    parser.add_argument('--figure', default='docs/pbr_settings.png')
    args = parser.parse_args()

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from binpick.catalog import Catalog
    from binpick.data import atomic
    from binpick.geometry import make_T
    from binpick.sim import domains
    from binpick.sim.bin_physics import BinPhysics
    from binpick.sim.generator import CellConfig, SceneGenerator
    from binpick.sim.pbr_renderer import BPY_VERSION, CyclesSceneRenderer, PbrSettings

    obj, cell = Catalog().get(args.object), CellConfig.from_config()
    with BinPhysics(obj, cell.bin, seed=7) as physics:
        physics.pack(args.parts, 'random')
        T_world_obj = physics.poses()
    rng = np.random.default_rng(0)
    T_world_left = domains.camera_pose('real', rng, cell.camera_height_m)
    T_left_right = make_T(np.eye(3), [cell.baseline_m, 0.0, 0.0])
    look = domains.appearance('real', rng)
    raster = SceneGenerator(obj, 'real', cell)
    parts = np.any(raster.renderer.render(T_world_obj, T_world_left, cell.camera).masks_visib, axis=0)

    def stereo(render) -> tuple[float, np.ndarray, float]:
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            left, right = render(T_world_left), render(T_world_left @ T_left_right)
            depth = raster.depth_from_stereo(left, right)
            times.append(time.perf_counter() - t0)
        return float(np.median(times)), left, float((depth[parts] == 0).mean())

    rows = {}
    s, image, missing = stereo(lambda T: raster.renderer.render(T_world_obj, T, cell.camera, look,
                                                                 with_masks=False).rgb)
    rows['rasterizer (real)'] = {'s_per_stereo_frame': round(s, 2), 'part_px_without_depth': round(missing, 3)}
    images = {'rasterizer (real)': image}
    print(f'rasterizer: {s:.2f} s per stereo frame, {100 * missing:.1f} % of part pixels without depth', flush=True)
    for name, changes in SETTINGS.items():
        settings = replace(PbrSettings(), **changes)
        cycles = CyclesSceneRenderer(obj, cell.bin, settings)
        cycles.place_lights(T_world_left @ make_T(np.eye(3), [cell.baseline_m / 2, 0, 0]),
                            np.asarray(look.light_direction[:2]) / look.light_direction[2])
        s, image, missing = stereo(lambda T, c=cycles: c.render(T_world_obj, T, cell.camera))
        cycles.close()
        ratio = s / rows['rasterizer (real)']['s_per_stereo_frame']
        rows[name] = {'settings': changes, 's_per_stereo_frame': round(s, 2), 'x_rasterizer': round(ratio, 1),
                      'part_px_without_depth': round(missing, 3)}
        images[name] = image
        print(f'{name}: {s:.1f} s per stereo frame ({ratio:.0f}x the rasterizer), '
              f'{100 * missing:.1f} % of part pixels without depth', flush=True)
    raster.close()

    shipped = rows['shipped (16 paths, denoised, 4 glossy bounces)']
    result = {'object': obj.name, 'parts': args.parts, 'resolution': [cell.camera.width, cell.camera.height],
              'bpy': BPY_VERSION, 'shipped_settings': asdict(PbrSettings()), 'rows': rows,
              'frames_per_hour_shipped': round(3600 / shipped['s_per_stereo_frame']),
              'frames_per_hour_rasterizer': round(3600 / rows['rasterizer (real)']['s_per_stereo_frame'])}
    out = Path(args.out)
    atomic.write_json(out / 'render_cost.json', result)
    lines = ['# Render cost of the physically based domain', '',
             f'`python bench/pbr_render_cost.py --object {obj.name} --parts {args.parts}`: one bin of {args.parts} '
             f'parts, {cell.camera.width}x{cell.camera.height}, one stereo frame = left + right view + '
             f'semi-global matching, median of {args.repeats}; bpy {BPY_VERSION}, Cycles on the CPU, 2 cores '
             '(shared: read the multiples of the rasterizer, measured in the same run).', '',
             '| renderer and settings | s per stereo frame | × rasterizer | part pixels without depth |',
             '| --- | --- | --- | --- |']
    for name, row in rows.items():
        lines.append(f'| {name} | {row["s_per_stereo_frame"]:.2f} | {row.get("x_rasterizer", 1.0):.0f} | '
                     f'{100 * row["part_px_without_depth"]:.1f} % |')
    lines += ['', f'At the shipped settings: {result["frames_per_hour_shipped"]} stereo frames per hour on this '
              f'machine against {result["frames_per_hour_rasterizer"]} for the rasterizer.', '',
              f'![looks](../../{args.figure})', '']
    atomic.write_text(out / 'render_cost.md', '\n'.join(lines))

    fig, axes = plt.subplots(2, (len(images) + 1) // 2, figsize=(5 * ((len(images) + 1) // 2), 8), squeeze=False)
    for ax, (name, image) in zip(axes.flat, images.items()):
        ax.imshow(image)
        ax.set_title(f'{name}\n{rows[name]["s_per_stereo_frame"]:.1f} s per stereo frame', fontsize=9)
        ax.axis('off')
    for ax in list(axes.flat)[len(images):]:
        ax.axis('off')
    fig.tight_layout()
    atomic.write_figure(args.figure, fig, dpi=70)
    print(json.dumps({k: v['s_per_stereo_frame'] for k, v in rows.items()}))


if __name__ == '__main__':
    main()
