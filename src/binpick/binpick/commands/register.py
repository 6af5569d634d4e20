"""binpick register: a 3D model of a part nobody registered, from views of it held by the arm."""
from __future__ import annotations

import argparse
from pathlib import Path

from binpick.errors import BinpickError


def _cmd_register(args: argparse.Namespace) -> int:
    from binpick.modelfree.registration import FusionConfig, load_views, register_part, save_views
    if args.simulate:
        from binpick.catalog import Catalog
        from binpick.sim.held_views import held_part_views
        views = held_part_views(Catalog().get(args.simulate), args.views_count, domain=args.domain, seed=args.seed)
        if args.views:
            save_views(Path(args.views), views)
            print(f'{len(views)} simulated views of {args.simulate} written to {args.views}')
    elif args.views:
        views = load_views(Path(args.views))
    else:
        raise BinpickError('give --views DIR (recorded views) or --simulate PART')
    config = FusionConfig(size_m=args.size_mm / 1000, voxel_m=args.voxel_mm / 1000)
    obj = register_part(args.name, views, config, root=Path(args.catalog) if args.catalog else None,
                        symmetry=args.symmetry, hold_trials=args.hold_trials)
    print(f'registered {obj.name} (obj_id {obj.obj_id}, diameter {obj.info.diameter_m * 1000:.1f} mm, '
          f'{len(obj.grasps().grasps)} grasps) from {len(views)} views in {obj.root}; next: '
          f'binpick experiment --object {obj.name} --quick')
    return 0


def register(sub) -> None:
    p = sub.add_parser('register', help='reconstruct a part from views of it held by the arm and add it to the '
                       'catalog (TSDF fusion, watertight mesh, grasps)')
    p.add_argument('--name', required=True, help='catalog name for the new part')
    p.add_argument('--views', metavar='DIR', help='views folder (views.json, rgb/, depth/, mask/); with '
                   '--simulate, where to write the simulated views')
    p.add_argument('--simulate', metavar='PART', help='simulate the views: PART (a catalog part) held up to the '
                   "cell's camera and turned by the arm")
    p.add_argument('--views-count', type=int, default=24, metavar='N', help='simulated views (default 24)')
    p.add_argument('--domain', default='real', choices=['real', 'synthetic'], help='simulated camera')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--size-mm', type=float, default=120.0, help='edge of the fused cube around the hand frame')
    p.add_argument('--voxel-mm', type=float, default=0.5)
    p.add_argument('--symmetry', action='append', metavar='SPEC', help='as in binpick catalog add (default none)')
    p.add_argument('--hold-trials', type=int, default=5, metavar='N', help='physics trials per grasp')
    p.add_argument('--catalog', help='catalog folder to write (default: the user catalog)')
    p.set_defaults(func=_cmd_register)
