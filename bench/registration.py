"""Reconstruction accuracy of `binpick register` on the built-in parts: views of each part held up to the
real-emulated stereo camera, fused into a watertight model, compared with its CAD mesh (mean Chamfer distance,
diameter error). Writes results/modelfree/registration.json and prints a Markdown table.

    .venv/bin/python bench/registration.py [--views 24] [--parts NAME ...] [--out results/modelfree]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from binpick.catalog import Catalog
from binpick.catalog.models_info import mesh_diameter
from binpick.catalog.shapes import BUILTIN_PARTS
from binpick.data import atomic
from binpick.modelfree.registration import FusionConfig, chamfer_m, reconstruct
from binpick.sim.held_views import held_part_views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--views', type=int, default=24)
    parser.add_argument('--domain', default='real', choices=['real', 'synthetic'])
    parser.add_argument('--parts', nargs='*', help='default: every built-in part')
    parser.add_argument('--voxel-mm', type=float, default=0.5)
    parser.add_argument('--out', default='results/modelfree')
    args = parser.parse_args()
    catalog = Catalog()
    names = args.parts or list(BUILTIN_PARTS)
    config = FusionConfig(voxel_m=args.voxel_mm / 1000)
    rows = {}
    print('| part | diameter (CAD) | diameter (model) | error | Chamfer (mean) | watertight | views | fusion |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- |')
    for name in names:
        obj = catalog.get(name)
        t0 = time.perf_counter()
        views = held_part_views(obj, args.views, domain=args.domain)
        t1 = time.perf_counter()
        mesh = reconstruct(views, config)
        t2 = time.perf_counter()
        d_true, d = obj.info.diameter_m, mesh_diameter(np.asarray(mesh.vertices))
        rows[name] = {'diameter_mm': 1000 * d, 'diameter_cad_mm': 1000 * d_true, 'diameter_error': d / d_true - 1,
                      'chamfer_mm': 1000 * chamfer_m(mesh, obj.mesh), 'watertight': bool(mesh.is_watertight),
                      'views_s': t1 - t0, 'fusion_s': t2 - t1}
        r = rows[name]
        print(f'| {name} | {r["diameter_cad_mm"]:.1f} mm | {r["diameter_mm"]:.1f} mm '
              f'| {100 * r["diameter_error"]:+.1f} % '
              f'| {r["chamfer_mm"]:.2f} mm | {r["watertight"]} | {r["views_s"]:.0f} s | {r["fusion_s"]:.1f} s |',
              flush=True)
    summary = {'chamfer_mm': float(np.mean([r['chamfer_mm'] for r in rows.values()])),
               'chamfer_mm_max': float(max(r['chamfer_mm'] for r in rows.values())),
               'diameter_error_max': float(max(abs(r['diameter_error']) for r in rows.values())),
               'views': args.views, 'domain': args.domain, 'voxel_mm': args.voxel_mm, 'parts': rows,
               'machine': f'{platform.machine()}, {platform.python_version()}'}
    print(f'mean Chamfer {summary["chamfer_mm"]:.2f} mm (worst {summary["chamfer_mm_max"]:.2f}), '
          f'worst diameter error {100 * summary["diameter_error_max"]:.1f} %')
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / 'registration.json', json.dumps(summary, indent=1))


if __name__ == '__main__':
    main()
