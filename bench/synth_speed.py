"""Frames per second of `binpick synth` for the synthetic domain at 640x480 with 20 parts per bin,
everything written (RGB, depth, visible and full masks, ground truth), with 1 and 2 workers; with
--shapes, of `binpick synth-shapes` (class-agnostic bins: a random training shape, packing and part
count per scene; the shape catalog is made before the clock starts).

    .venv/bin/python bench/synth_speed.py [--scenes 8] [--object zigzag_bracket] [--shapes] [--domain real]

Anchor: the source report's generator made 25 frames in 63.7 s (0.39 frames/s); target >= 4 with 2 workers.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from binpick.catalog import Catalog
from binpick.sim.generator import CellConfig
from binpick.sim.synth import SynthRequest, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--object', default='zigzag_bracket')
    parser.add_argument('--scenes', type=int, default=8)
    parser.add_argument('--frames-per-scene', type=int, default=5)
    parser.add_argument('--domain', default='synthetic', choices=['synthetic', 'real'])
    parser.add_argument('--shapes', action='store_true', help='time binpick synth-shapes instead')
    parser.add_argument('--json', help='also write the figures to this JSON file')
    args = parser.parse_args()
    figures = {'domain': args.domain, 'generator': 'synth-shapes' if args.shapes else f'synth {args.object}',
               'frames': args.scenes * args.frames_per_scene, 'anchor_frames_per_s': 0.39, 'frames_per_s': {}}
    catalog, cell = Catalog(), CellConfig.from_config()
    frames = args.scenes * args.frames_per_scene
    what = 'class-agnostic bins of 48 training shapes (parts as each scene draws them)' if args.shapes else \
        f'{args.object}, 20 parts per bin'
    print(f'{args.domain} domain, {what}, {cell.camera.width}x{cell.camera.height}, '
          f'{args.scenes} scenes x {args.frames_per_scene} frames')
    for workers in (1, 2):
        out = Path(tempfile.mkdtemp(prefix='binpick-synth-bench-'))
        if args.shapes:
            from binpick.modelfree.shape_synth import ShapeSynthRequest
            from binpick.modelfree.shape_synth import run as run_shapes
            from binpick.modelfree.shapes import write_shape_catalog
            write_shape_catalog(out / 'ds' / 'shapes', 'train', 48, seed=0)
            request = ShapeSynthRequest(args.domain, args.scenes, 0, args.frames_per_scene, 48, 'train', 0)
            t0 = time.perf_counter()
            run_shapes(request, out / 'ds', cell, workers=workers, progress=False)
        else:
            request = SynthRequest(args.object, args.domain, args.scenes, 0, args.frames_per_scene, '20', 0)
            t0 = time.perf_counter()
            run(request, out / 'ds', cell, catalog, workers=workers, progress=False)
        dt = time.perf_counter() - t0
        print(f'{workers} worker(s): {frames} frames in {dt:6.1f} s = {frames / dt:5.2f} frames/s '
              f'({frames / dt / 0.39:4.1f}x the anchor)')
        figures['frames_per_s'][workers] = frames / dt
        shutil.rmtree(out)
    if args.json:
        from binpick.data import atomic
        atomic.write_json(args.json, figures)


if __name__ == '__main__':
    main()
