"""The ``binpick`` command.

Each subcommand lives in a small function that parses nothing itself: ``main`` builds the parser,
dispatches, and turns expected errors (bad files, bad arguments) into a one-line message and a
non-zero exit code.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from binpick import __version__
from binpick.catalog.catalog import BUILTIN_DIR
from binpick.errors import BinpickError


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
                     description=args.description)
    print(f'added {obj.name} (obj_id {obj.obj_id}, diameter {obj.info.diameter_m * 1000:.1f} mm, '
          f'{obj.kind}, {len(obj.grasps().grasps)} grasps) to {obj.root}')
    return 0


def _cmd_catalog_build_builtin(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from binpick.catalog.catalog import build_builtin
    from binpick.catalog.shapes import BUILTIN_PARTS
    for name in tqdm(args.names or list(BUILTIN_PARTS), desc='built-in parts', unit='part'):
        build_builtin(names=[name])
    return 0


def _shard(text: str) -> tuple[int, int]:
    try:
        i, m = (int(v) for v in text.split('/'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r}: expected i/M, e.g. 0/4') from None
    if not 0 <= i < m:
        raise argparse.ArgumentTypeError(f'{text!r}: expected 0 <= i < M')
    return i, m


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {value}')
    return value


def _cmd_synth(args: argparse.Namespace) -> int:
    from binpick.catalog import Catalog
    catalog = Catalog()
    obj = catalog.get(args.object)
    from binpick.sim.generator import CellConfig  # pybullet: only once the request is known to be valid
    cell = CellConfig.from_config(args.camera_config, args.cell_config)
    if args.preview:
        from binpick.sim.preview import save_preview
        path = save_preview(obj, cell, args.preview, seed=args.seed)
        print(f'preview of both domains written to {path}')
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


def _dataset_objects(data_dirs: list[str], catalog) -> list[str]:
    """Object names of ``binpick synth`` datasets (from their dataset_info.json)."""
    from binpick.data.jsonfields import field, load_json
    names = []
    for d in data_dirs:
        path = Path(d) / 'dataset_info.json'
        name = field(load_json(path), 'object_name', path, '')
        catalog.get(name)
        if name not in names:
            names.append(name)
    return names


def _set_threads(threads: int | None) -> None:
    import torch
    torch.set_num_threads(threads or max(1, os.cpu_count() or 1))


def _cmd_train_seg(args: argparse.Namespace) -> int:
    from binpick.catalog import Catalog
    from binpick.perception.seg_train import SegTrainConfig, train_segmentation
    _set_threads(args.threads)
    catalog = Catalog()
    names = args.objects or _dataset_objects(args.data, catalog)
    train = SegTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                           max_iters_per_epoch=args.max_iters_per_epoch, val_images=args.val_images,
                           seed=args.seed, copy_paste_prob=args.copy_paste)
    val = Path(args.val) if args.val else Path(args.data[0]) / 'test'
    state = train_segmentation([Path(d) / 'train' for d in args.data], Path(args.out), names, catalog,
                               train=train, val_split=val if val.is_dir() else None, resume=args.resume)
    print(f'model for {", ".join(names)} written to {args.out} after {state.epoch} epoch(s)')
    return 0


def _cmd_eval_seg(args: argparse.Namespace) -> int:
    import json

    from binpick.catalog import Catalog
    from binpick.evaluation.segmentation_eval import evaluate_split
    from binpick.perception.seg_train import label_map
    from binpick.perception.segmentation import Segmenter
    _set_threads(args.threads)
    catalog = Catalog()
    segmenter = Segmenter.load(args.ckpt, catalog, score_threshold=args.score_threshold)
    split_dir = Path(args.data) / args.split
    gt_dir = Path(args.data) / 'gt_eval_only' / args.split
    metrics = evaluate_split(segmenter, split_dir, label_map(catalog, segmenter.config.object_names),
                             gt_dir if gt_dir.is_dir() else None, args.max_images, progress=True)
    print(f'{split_dir}: mask AP {metrics["AP"]:.3f}, AP50 {metrics["AP50"]:.3f}, AP75 {metrics["AP75"]:.3f} '
          f'over {int(metrics["images"])} images, {metrics["ms_per_image"]:.0f} ms per image')
    if args.json:
        from binpick.data import atomic
        atomic.write_json(args.json, {'ckpt': str(args.ckpt), 'data': str(split_dir), **metrics})
    return 0


def _cmd_train_pose(args: argparse.Namespace) -> int:
    from binpick.catalog import Catalog
    from binpick.perception.pose.labels import labels_from_bop
    from binpick.perception.pose.network import PoseNetConfig
    from binpick.perception.pose.train import PoseTrainConfig, train_pose
    _set_threads(args.threads)
    catalog = Catalog()
    obj = catalog.get(args.object)
    data = Path(args.data)
    gt_dir = None
    if (data / 'gt_eval_only' / 'train').is_dir():
        if not args.use_eval_gt:
            from binpick.errors import BinpickError
            raise BinpickError(f'{data / "train"} has no labels (real-emulated data); training on its evaluation '
                               'ground truth is only for the upper bound: pass --use-eval-gt to do that')
        gt_dir = data / 'gt_eval_only' / 'train'
    labels = labels_from_bop(data / 'train', obj.obj_id, gt_dir)
    validate = None
    if args.val_images > 0 and (data / 'test').is_dir():
        from binpick.evaluation.pose_eval import evaluate_pose
        from binpick.perception.pose.estimator import PoseEstimator

        def validate(net):
            ev = evaluate_pose(PoseEstimator(net), data / 'test', obj, max_images=args.val_images)
            return {'val_recall_gt_masks': ev.report.mean}
    train = PoseTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    print(f'{len(labels)} labelled instances of {obj.name} from {data / "train"}')
    state = train_pose(labels, Path(args.out), obj.name, catalog, PoseNetConfig(object_name=obj.name), train,
                       init=Path(args.init) if args.init else None, resume=args.resume, validate=validate)
    print(f'pose model written to {args.out} after {state.epoch} epoch(s)')
    return 0


def _cmd_eval_pose(args: argparse.Namespace) -> int:
    from binpick.catalog import Catalog
    from binpick.data import atomic
    from binpick.data.bop_results import write_results_csv
    from binpick.evaluation.pose_eval import evaluate_pose
    from binpick.perception.pose.estimator import PoseEstimator
    _set_threads(args.threads)
    catalog = Catalog()
    estimator = PoseEstimator.load(args.ckpt, catalog)
    obj = catalog.get(estimator.config.object_name)
    segmenter = None
    if args.masks == 'predicted':
        if not args.seg_ckpt:
            from binpick.errors import BinpickError
            raise BinpickError('--masks predicted needs --seg-ckpt (a binpick train-seg checkpoint)')
        from binpick.perception.segmentation import Segmenter
        segmenter = Segmenter.load(args.seg_ckpt, catalog)
    split_dir = Path(args.data) / args.split
    gt_dir = Path(args.data) / 'gt_eval_only' / args.split
    ev = evaluate_pose(estimator, split_dir, obj, gt_dir if gt_dir.is_dir() else None, segmenter,
                       args.max_images, progress=True)
    metric = 'ADD-S' if obj.info.is_symmetric else 'ADD'
    n_ok, n_all = ev.report.correct.get(obj.obj_id, 0), ev.report.total.get(obj.obj_id, 0)
    table = (f'| object | metric | masks | recall | correct / instances | ms per instance |\n'
             f'| --- | --- | --- | --- | --- | --- |\n'
             f'| {obj.name} | {metric} < 0.1 d | {args.masks} | {100 * ev.report.mean:.1f} % | {n_ok} / {n_all} | '
             f'{ev.ms_per_instance:.1f} |\n')
    print(table, end='')
    if ev.skipped:
        print('skipped instances: ' + ', '.join(f'{v} x {k}' for k, v in ev.skipped.items()))
    if args.csv:
        write_results_csv(args.csv, ev.estimates)
    if args.md:
        atomic.write_text(args.md, f'{split_dir}, {args.ckpt}\n\n' + table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='binpick', description=__doc__.splitlines()[0])
    parser.add_argument('--version', action='version', version=f'binpick {__version__}')
    sub = parser.add_subparsers(dest='command', required=True)

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
    p.add_argument('--catalog', help='catalog folder to write (default: $BINPICK_CATALOG or '
                   '~/.local/share/binpick/catalog)')
    p.set_defaults(func=_cmd_catalog_add)
    p = csub.add_parser('build-builtin', help='regenerate the built-in parts (developers)')
    p.add_argument('names', nargs='*')
    p.set_defaults(func=_cmd_catalog_build_builtin)

    p = sub.add_parser('synth', help='simulate bins and write a BOP dataset (synthetic or real-emulated)',
                       description='Simulate bins of one catalog object and write them as a BOP dataset. '
                       'Resumable: rerun the same command to finish or extend a dataset.')
    p.add_argument('--object', required=True, help='catalog name (binpick catalog list)')
    p.add_argument('--domain', choices=['synthetic', 'real'], default='synthetic',
                   help='synthetic: domain-randomised training data; real: stereo-depth "real" cell '
                   '(its train split is written without ground truth)')
    p.add_argument('--scenes', type=_positive, default=10, help='train scenes (default 10)')
    p.add_argument('--test-scenes', type=int, help='test scenes (default scenes/10, at least 1)')
    p.add_argument('--frames-per-scene', type=_positive, default=5, help='views of each settled bin (default 5)')
    p.add_argument('--bin', default='mixed', metavar='low|full|mixed|N',
                   help='parts per bin: low 5-10, full 20-40, mixed alternates (default), or exactly N')
    p.add_argument('--out', help='dataset folder')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--workers', type=_positive, default=1, help='processes (default 1)')
    p.add_argument('--shard', type=_shard, default=(0, 1), metavar='i/M', help='write only every M-th scene from i')
    p.add_argument('--preview', metavar='PNG', help='save a PNG grid of RGB, depth and masks for both domains')
    p.add_argument('--camera-config', default='camera', help='camera parameter file (default config/camera.yaml)')
    p.add_argument('--cell-config', default='cell', help='cell parameter file (default config/cell.yaml)')
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser('train-seg', help='train the instance segmentation model on synthetic bins')
    p.add_argument('--data', nargs='+', required=True, help='binpick synth dataset folder(s); their train/ is used')
    p.add_argument('--out', required=True, help='checkpoint to write (rewritten during training)')
    p.add_argument('--objects', nargs='+', help='object names (default: from the datasets)')
    p.add_argument('--val', help='split folder validated after each epoch (default: DATA/test)')
    p.add_argument('--epochs', type=_positive, default=6)
    p.add_argument('--batch-size', type=_positive, default=2)
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--max-iters-per-epoch', type=_positive)
    p.add_argument('--val-images', type=int, default=20)
    p.add_argument('--copy-paste', type=float, default=0.5, help='probability of copy-paste per sample')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=_positive, help='torch threads (default: all cores)')
    p.add_argument('--resume', action='store_true', help='continue from the checkpoint at --out')
    p.set_defaults(func=_cmd_train_seg)

    p = sub.add_parser('eval-seg', help='mask AP / AP50 of a segmentation model on a BOP split')
    p.add_argument('--ckpt', required=True)
    p.add_argument('--data', required=True, help='dataset folder')
    p.add_argument('--split', default='test')
    p.add_argument('--max-images', type=_positive)
    p.add_argument('--score-threshold', type=float, default=0.05, help='low for AP (default 0.05)')
    p.add_argument('--json', help='also write the figures to this JSON file')
    p.add_argument('--threads', type=_positive)
    p.set_defaults(func=_cmd_eval_seg)

    p = sub.add_parser('train-pose', help='train the 6D pose network on a BOP dataset with labels')
    p.add_argument('--object', required=True)
    p.add_argument('--data', required=True, help='binpick synth dataset (its train split is used)')
    p.add_argument('--out', required=True, help='checkpoint to write (rewritten during training)')
    p.add_argument('--init', help='start from this pose checkpoint (e.g. the teacher)')
    p.add_argument('--use-eval-gt', action='store_true',
                   help='real-emulated data: train on its evaluation ground truth (the upper bound only)')
    p.add_argument('--epochs', type=_positive, default=20)
    p.add_argument('--batch-size', type=_positive, default=32)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--val-images', type=int, default=10, help='DATA/test images for validation per epoch')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=_positive)
    p.add_argument('--resume', action='store_true')
    p.set_defaults(func=_cmd_train_pose)

    p = sub.add_parser('eval-pose', help='ADD(-S) recall of a pose model on a BOP split')
    p.add_argument('--ckpt', required=True)
    p.add_argument('--data', required=True)
    p.add_argument('--split', default='test')
    p.add_argument('--masks', choices=['gt', 'predicted'], default='predicted',
                   help='predicted: from --seg-ckpt (the real figure); gt: diagnosis only')
    p.add_argument('--seg-ckpt')
    p.add_argument('--max-images', type=_positive)
    p.add_argument('--csv', help='write the estimates as a BOP results CSV')
    p.add_argument('--md', help='write the recall table as markdown')
    p.add_argument('--threads', type=_positive)
    p.set_defaults(func=_cmd_eval_pose)
    return parser


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `binpick catalog list | head` exits quietly
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BinpickError as e:
        print(f'binpick: error: {e}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
