"""The depth side of the sim-to-real gap: on part pixels, the share without depth, the median
depth error where there is depth, and the signed median offset of each frame (the calibration
error's depth bias), for every domain.

    .venv/bin/python bench/depth_gap.py [--object zigzag_bracket] [--scenes 6] [--domains real real_pbr]
"""
from __future__ import annotations

import argparse

import numpy as np

from binpick.catalog import Catalog
from binpick.sim.domains import DOMAINS
from binpick.sim.generator import BIN_FILL, CellConfig, SceneGenerator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--object', default='zigzag_bracket')
    parser.add_argument('--scenes', type=int, default=6, help='scenes per domain (half full, half low bins)')
    parser.add_argument('--seed', type=int, default=0, help='cell seed (the real domain calibration error)')
    parser.add_argument('--domains', nargs='+', choices=DOMAINS, default=DOMAINS,
                        help='domains to measure (default all; real_pbr takes about 25 s a frame)')
    args = parser.parse_args()
    obj, cell = Catalog().get(args.object), CellConfig.from_config()
    print(f'object {obj.name}, {args.scenes} scenes x 2 frames per domain, camera {cell.camera.width}x'
          f'{cell.camera.height} at {cell.camera_height_m} m')
    print(f'{"domain":10s} {"part px without depth":>22s} {"median |depth error|":>21s} {"p90 |error|":>12s} '
          f'{"signed median offset per frame, min..max":>42s}')
    for domain in args.domains:
        generator = SceneGenerator(obj, domain, cell, cell_seed=args.seed)
        missing, errors, offsets = [], [], []
        for s in range(args.scenes):
            lo, hi = BIN_FILL['full' if s % 2 == 0 else 'low']
            for f in generator.generate(1000 + s, (lo + hi) // 2, 2):
                parts = np.any(f.masks_visib, axis=0)
                missing.append((f.depth_m[parts] == 0).mean())
                valid = parts & (f.depth_m > 0)
                signed = f.depth_m[valid] - f.depth_true_m[valid]
                errors.append(np.abs(signed))
                offsets.append(np.median(signed))
        generator.close()
        err = np.concatenate(errors)
        print(f'{domain:10s} {100 * np.mean(missing):21.1f}% {1000 * np.median(err):18.2f} mm '
              f'{1000 * np.percentile(err, 90):9.2f} mm {1000 * min(offsets):+20.2f} .. {1000 * max(offsets):+.2f} mm')


if __name__ == '__main__':
    main()
