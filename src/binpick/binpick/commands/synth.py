"""binpick synth: simulated bins as BOP datasets, and the preview grid."""
from __future__ import annotations

import argparse
from pathlib import Path

from binpick.commands.args import positive, shard


def _cmd_synth(args: argparse.Namespace) -> int:
    from binpick.catalog import Catalog
    catalog = Catalog()
    obj = catalog.get(args.object)
    from binpick.sim.generator import CellConfig  # pybullet: only once the request is known to be valid
    cell = CellConfig.from_config(args.camera_config, args.cell_config)
    if args.preview:
        from binpick.sim.preview import save_preview
        path = save_preview(obj, cell, args.preview, seed=args.seed)
        print(f'preview of the domains written to {path}')
        if not args.out:
            return 0
    from binpick.sim.synth import SynthError, SynthRequest, run
    if not args.out:
        raise SynthError('--out is required (unless only --preview is asked for)')
    test_scenes = args.test_scenes if args.test_scenes is not None else max(1, args.scenes // 10)
    request = SynthRequest(obj.name, args.domain, args.scenes, test_scenes, args.frames_per_scene,
                           args.bin, args.seed)
    written = run(request, Path(args.out), cell, catalog, workers=args.workers, shard=args.shard)
    print(f'{written} scene(s) written to {args.out} ({args.scenes} train + {test_scenes} test in the dataset)')
    return 0


def _cmd_synth_shapes(args: argparse.Namespace) -> int:
    from binpick.modelfree.shape_synth import ShapeSynthRequest, run
    from binpick.sim.generator import CellConfig
    cell = CellConfig.from_config(args.camera_config, args.cell_config)
    request = ShapeSynthRequest(args.domain, args.scenes, args.test_scenes, args.frames_per_scene, args.shapes,
                                args.shape_set, args.seed, tuple(args.kinds))
    written = run(request, Path(args.out), cell, workers=args.workers)
    print(f'{written} scene(s) written to {args.out} ({args.scenes} train + {args.test_scenes} test scenes of '
          f'{args.shapes} {args.shape_set} shapes)')
    return 0


def register(sub) -> None:
    p = sub.add_parser('synth', help='simulate bins and write a BOP dataset (synthetic or real-emulated)',
                       description='Simulate bins of one catalog object and write them as a BOP dataset. '
                       'Resumable: rerun the same command to finish or extend a dataset.')
    p.add_argument('--object', required=True, help='catalog name (binpick catalog list)')
    p.add_argument('--domain', choices=['synthetic', 'real', 'real_harsh', 'real_pbr'], default='synthetic',
                   help='synthetic: domain-randomised training data; real: stereo-depth "real" cell with one '
                   'small calibration error for the whole dataset (its train split is written without ground '
                   'truth); real_harsh: the same with a larger error drawn anew for every scene (stress test); '
                   'real_pbr: the real cell path-traced by Blender Cycles (steel, area light, dot projector; '
                   'about 25 s per stereo frame on 2 cores)')
    p.add_argument('--scenes', type=positive, default=10, help='train scenes (default 10)')
    p.add_argument('--test-scenes', type=int, help='test scenes (default scenes/10, at least 1)')
    p.add_argument('--frames-per-scene', type=positive, default=5, help='views of each settled bin (default 5)')
    p.add_argument('--bin', default='mixed', metavar='low|full|mixed|N',
                   help='parts per bin: low 5-10, full 20-40, mixed alternates (default), or exactly N')
    p.add_argument('--out', help='dataset folder')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--workers', type=positive, default=1, help='processes (default 1)')
    p.add_argument('--shard', type=shard, default=(0, 1), metavar='i/M', help='write only every M-th scene from i')
    p.add_argument('--preview', metavar='PNG', help='save a PNG grid of RGB, depth and masks of one bin in '
                   'every domain (the path-traced one takes about 25 s)')
    p.add_argument('--camera-config', default='camera', help='camera parameter file (default config/camera.yaml)')
    p.add_argument('--cell-config', default='cell', help='cell parameter file (default config/cell.yaml)')
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser('synth-shapes', help='class-agnostic bins of procedural shapes (BOP dataset, UOIS training)',
                       description='Simulate totes of procedurally generated shapes (boxes of five proportions, '
                       'cylinders, L- and T-profiles; or, with --shape-set test, the test-only wedge and U-channel), '
                       'packed at random, semi-ordered or ordered, one shape per tote, every part its own instance. '
                       'Resumable: rerun the same command to finish or extend a dataset.')
    p.add_argument('--out', required=True, help='dataset folder')
    p.add_argument('--domain', choices=['synthetic', 'real', 'real_harsh'], default='synthetic')
    p.add_argument('--shape-set', choices=['train', 'test'], default='train',
                   help='train: the training kinds; test: kinds kept out of training (default train)')
    p.add_argument('--shapes', type=positive, default=48, help='random shapes in the dataset (default 48)')
    p.add_argument('--kinds', nargs='+', metavar='KIND', default=(),
                   help="only these kinds of the shape set, taken in turn (default: all of the set's kinds)")
    p.add_argument('--scenes', type=int, default=20, help='train scenes (default 20)')
    p.add_argument('--test-scenes', type=int, default=2, help='test scenes (default 2)')
    p.add_argument('--frames-per-scene', type=positive, default=5, help='views of each settled tote (default 5)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--workers', type=positive, default=1, help='processes (default 1)')
    p.add_argument('--camera-config', default='camera', help='camera parameter file (default config/camera.yaml)')
    p.add_argument('--cell-config', default='cell', help='cell parameter file (default config/cell.yaml)')
    p.set_defaults(func=_cmd_synth_shapes)
