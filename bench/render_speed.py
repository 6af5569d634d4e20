"""Single-object rendering speed (pose verification): ms per 128x128 crop and per 640x480 frame.

    .venv/bin/python bench/render_speed.py [--object zigzag_bracket] [--n 200]

Targets: <= 5 ms for a 128x128 crop, <= 20 ms at 640x480.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from binpick.catalog import Catalog
from binpick.geometry import axis_angle, make_T
from binpick.sim.generator import CellConfig
from binpick.sim.object_renderer import ObjectRenderer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--object', default='zigzag_bracket')
    parser.add_argument('--n', type=int, default=200)
    args = parser.parse_args()
    obj, camera = Catalog().get(args.object), CellConfig.from_config().camera
    rng = np.random.default_rng(0)
    poses = [make_T(axis_angle(rng.normal(size=3), rng.uniform(0, np.pi)),
                    [rng.uniform(-0.1, 0.1), rng.uniform(-0.08, 0.08), rng.uniform(0.45, 0.65)])
             for _ in range(args.n)]
    with ObjectRenderer(obj.mesh) as renderer:
        for name, window in (('128x128 crop', 128), (f'{camera.width}x{camera.height} frame', None)):
            cams = []
            for T in poses:
                if window is None:
                    cams.append(camera)
                else:
                    u, v = camera.project(T[None, :3, 3])[0]
                    cams.append(camera.crop(int(u) - window // 2, int(v) - window // 2, window, window))
            renderer.render(poses[0], cams[0])  # warm-up
            t0 = time.perf_counter()
            for T, cam in zip(poses, cams):
                renderer.render(T, cam)
            ms = (time.perf_counter() - t0) / len(poses) * 1000
            print(f'{obj.name}: {name}: {ms:6.2f} ms per rendering (RGB + depth + mask), {len(poses)} poses')


if __name__ == '__main__':
    main()
