"""binpick catalog list | show | add | hold-test | build-builtin."""
from __future__ import annotations

import argparse
from pathlib import Path

from binpick.catalog.catalog import BUILTIN_DIR


def _cmd_catalog_list(args: argparse.Namespace) -> int:
    from binpick.catalog import Catalog
    catalog = Catalog()
    print(f'{"name":18s} {"obj_id":>6s}  {"diameter":>9s}  {"symmetry":28s} {"grasps":>6s}  source')
    for o in catalog:
        n_grasps = len(o.grasps().grasps) if o.grasps_path.is_file() else 0
        sym = o.kind or o.info.symmetry_kind
        n_discrete = len(o.info.symmetries_discrete)
        if o.info.symmetries_continuous and n_discrete:
            sym += ' + flip'
        elif n_discrete:
            sym += f', {n_discrete + 1} poses'
        source = 'built-in' if o.root.resolve() == BUILTIN_DIR.resolve() else str(o.root)
        print(f'{o.name:18s} {o.obj_id:6d}  {o.info.diameter_m * 1000:6.1f} mm  {sym:28s} {n_grasps:6d}  {source}')
    return 0


def _cmd_catalog_show(args: argparse.Namespace) -> int:
    from binpick.catalog import Catalog
    o = Catalog().get(args.name)
    info = o.info
    print(f'name:         {o.name}\nobj_id:       {o.obj_id}\nkind:         {o.kind}\n'
          f'description:  {o.description}\nmesh:         {o.mesh_path}\ngrasps:       {o.grasps_path}\n'
          f'diameter:     {info.diameter_m * 1000:.2f} mm\n'
          f'box size:     {" x ".join(f"{v * 1000:.1f}" for v in info.size_xyz_m)} mm\n'
          f'symmetries:   {len(info.symmetries_discrete)} discrete, '
          f'{len(info.symmetries_continuous)} continuous axes\nfingerprint:  {o.fingerprint}')
    return 0


def _cmd_catalog_add(args: argparse.Namespace) -> int:
    from binpick.catalog.catalog import add_object
    obj = add_object(args.name, args.mesh, args.units, args.symmetry or ['none'],
                     root=Path(args.catalog) if args.catalog else None, center=args.center,
                     description=args.description, hold_trials=args.hold_trials)
    print(f'added {obj.name} (obj_id {obj.obj_id}, diameter {obj.info.diameter_m * 1000:.1f} mm, '
          f'{obj.kind}, {len(obj.grasps().grasps)} grasps) to {obj.root}')
    return 0


def _cmd_catalog_hold_test(args: argparse.Namespace) -> int:
    from binpick.catalog import Catalog
    from binpick.catalog.catalog import check_grasp_holds
    from binpick.sim.hand import MIN_HOLD  # here: pybullet prints a banner on stdout when imported
    catalog = Catalog()
    for name in args.names:
        obj = catalog.get(name)
        before = len(obj.grasps().grasps)
        kept = check_grasp_holds(obj, args.trials, progress=True)
        print(f'{name}: {len(kept.grasps)} of {before} grasps held in at least {MIN_HOLD:.0%} of {args.trials} '
              f'trials; {obj.grasps_path}')
    return 0


def _cmd_catalog_build_builtin(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from binpick.catalog.catalog import build_builtin
    from binpick.catalog.shapes import BUILTIN_PARTS
    for name in tqdm(args.names or list(BUILTIN_PARTS), desc='built-in parts', unit='part'):
        build_builtin(names=[name])
    return 0


def register(sub) -> None:
    catalog = sub.add_parser('catalog', help='list, inspect and add objects (CAD models)')
    csub = catalog.add_subparsers(dest='catalog_command', required=True)
    p = csub.add_parser('list', help='objects with diameter, symmetry and grasp count')
    p.set_defaults(func=_cmd_catalog_list)
    p = csub.add_parser('show', help='details of one object')
    p.add_argument('name')
    p.set_defaults(func=_cmd_catalog_show)
    p = csub.add_parser('add', help='validate a CAD mesh and add it with models_info and grasps')
    p.add_argument('name', help='catalog name, e.g. flange_plate')
    p.add_argument('mesh', help='watertight mesh file (.ply, .obj, .stl)')
    p.add_argument('--units', required=True, choices=['mm', 'm'], help='units of the mesh file')
    p.add_argument('--symmetry', action='append', metavar='SPEC',
                   help='none | continuous:AXIS | discrete:AXIS:N | flip:AXIS (repeatable; AXIS x, y or z)')
    p.add_argument('--center', action='store_true', help='move the origin to the bounding-box centre')
    p.add_argument('--description', default='')
    p.add_argument('--hold-trials', type=int, default=5, metavar='N',
                   help='physics trials per grasp: keep the grasps the hand holds through a lift and a swing '
                   '(0: keep every sampled grasp)')
    p.add_argument('--catalog', help='catalog folder to write (default: $BINPICK_CATALOG or '
                   '~/.local/share/binpick/catalog)')
    p.set_defaults(func=_cmd_catalog_add)
    p = csub.add_parser('hold-test', help='test the grasps of objects in physics and keep those that hold '
                        '(rewrites their grasp files)')
    p.add_argument('names', nargs='+')
    p.add_argument('--trials', type=int, default=5, help='trials per grasp (the first exact, the others with '
                   'a pose error of up to 2 mm and 3 degrees)')
    p.set_defaults(func=_cmd_catalog_hold_test)
    p = csub.add_parser('build-builtin', help='regenerate the built-in parts (developers)')
    p.add_argument('names', nargs='*')
    p.set_defaults(func=_cmd_catalog_build_builtin)
