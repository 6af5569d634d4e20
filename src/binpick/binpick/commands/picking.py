"""binpick pick-bench."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from binpick.commands.args import positive, set_threads
from binpick.selftrain import PERCEPTUAL_BACKENDS


def _sources(args: argparse.Namespace, obj, catalog) -> list:
    """The sources the bench compares: ground truth, then each model (gated, and the first one also
    ungated when asked); with --model-free, the first pick without a model instead."""
    from binpick.demo_models import SHIPPED, model_paths
    from binpick.evaluation.pick_bench import GroundTruthPoses, ModelFreeMasks, ModelPoses
    from binpick.perception.pose.estimator import PoseEstimator
    from binpick.perception.segmentation import Segmenter
    from binpick.selftrain.calibration import Calibration
    from binpick.selftrain.perceptual import PerceptualDistance
    from binpick.selftrain.scores import PoseScorer

    if args.model_free:
        from binpick.modelfree.depth_segmentation import segment_by_depth
        from binpick.modelfree.grasp_quality import GraspQuality
        quality = GraspQuality.load(args.grasp_quality) if args.grasp_quality else None   # a bad file fails first
        rows = [] if args.no_ground_truth else [('no model, simulator masks', None)]
        if args.uois:
            from binpick.modelfree.uois import UoisSegmenter, load_segmenter
            uois = load_segmenter(args.uois)
            network = 'UCN' if isinstance(uois, UoisSegmenter) else 'class-agnostic Mask R-CNN'

            def uois_masks(cap, depth_m):
                return [i.mask for i in uois.segment(cap.left_rgb, depth_m, cap.K)]
            rows.append((f'no model, masks by the {network} ({Path(args.uois).name})', uois_masks))
        if not args.no_baseline:
            rows.append(('no model, masks by depth (the non-learned baseline)',
                         lambda cap, depth_m: segment_by_depth(depth_m, cap.K)))
        suffix = f', grasps ranked by {Path(args.grasp_quality).name}' if quality else ''
        return [ModelFreeMasks(name + suffix, segment, quality=quality) for name, segment in rows]
    sources = [] if args.no_ground_truth else [GroundTruthPoses()]
    if not args.pose_ckpt:
        return sources
    segmenter = Segmenter.load(args.seg or model_paths(SHIPPED, obj.name)['seg'], catalog)
    scorer = PoseScorer(obj, PerceptualDistance(args.perceptual))
    calibration = Calibration.load(args.calibration) if args.calibration else None
    gate = 'calibrated' if calibration else 'bank'
    for k, ckpt in enumerate(args.pose_ckpt):
        estimator = PoseEstimator.load(ckpt, catalog, obj.name)
        name = Path(ckpt).stem + (f', calibrated gate ({Path(args.calibration).name})' if calibration else '')
        sources.append(ModelPoses(name, segmenter, estimator, scorer, gate, calibration))
        if k == 0 and args.ungated_row:
            sources.append(ModelPoses(f'{Path(ckpt).stem}, no verification gate', segmenter, estimator, scorer,
                                      'none'))
    return sources


def _cmd_pick_bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from binpick.catalog import Catalog
    from binpick.config import load_params
    from binpick.errors import BinpickError
    from binpick.evaluation.pick_bench import ModelFreeMasks, cycles_to_dicts, run_source, summarize
    from binpick.evaluation.pick_report import previous_run, write_report
    from binpick.sim.generator import CellConfig

    set_threads(args.threads)
    catalog = Catalog()
    obj = catalog.get(args.object or load_params('cell')['object_id'])
    cell_config = CellConfig.from_config()
    sources = _sources(args, obj, catalog)
    if not sources:
        raise BinpickError('pick-bench: nothing to compare (give --pose-ckpt, or drop --no-ground-truth)')
    out = Path(args.out)
    seeds = args.seed
    results = {'object': obj.name, 'attempts_per_source': args.attempts,
               'seed': seeds[0] if len(seeds) == 1 else seeds, 'fill': args.fill,
               'planner': 'built-in (IK + OMPL RRT-Connect, pybullet collision checks)', 'sources': {},
               'model_free': bool(args.model_free), 'threads': args.threads or 'all'}
    results, all_cycles = previous_run(out, results)
    for source in sources:
        if source.name in results['sources']:
            print(f'{source.name}: kept from the earlier run in {out}', flush=True)
            continue
        bar = tqdm(total=args.attempts * len(seeds), desc=source.name, unit='pick')
        def progress(c, bar=bar):
            bar.update(int(c.executed))
            bar.set_postfix_str(f'{c.reason or "picked"}')
        cycles = [c for seed in seeds
                  for c in run_source(obj, cell_config, source, args.attempts, seed=seed, fill=args.fill,
                                      progress=progress)]
        bar.close()
        results['sources'][source.name] = summarize(cycles)
        if isinstance(source, ModelFreeMasks):
            slug = re.sub(r'[^a-z0-9]+', '_', source.name.lower()).strip('_')
            figure = source.save_figure(out / f'cost_map_{slug}.png')
            if figure is not None:
                results['sources'][source.name]['figure'] = figure.name
        all_cycles += cycles_to_dicts(cycles)
        write_report(results, all_cycles, out)         # after every source: a stop loses one source at most
        s = results['sources'][source.name]
        print(f'{source.name}: {s["successes"]}/{s["attempts"]} picks succeeded ({s["success_rate"]:.1f} %), '
              f'{s["collisions"]} with tote contact, median planning {s["plan_time_ms_median"]:.0f} ms', flush=True)
    print(f'report: {Path(args.out) / "report.md"}')
    return 0


def register(sub) -> None:
    p = sub.add_parser('pick-bench', help='pick attempts in the simulated cell with the Panda (Table 4 analog)',
                       description='Pick attempts in the simulated cell with a Franka Panda, per pose source '
                                   '(ground truth and each --pose-ckpt), on the same bins; writes report.md and '
                                   'results.json.')
    p.add_argument('--object', help='catalog name (default: config/cell.yaml object_id)')
    p.add_argument('--pose-ckpt', action='append', default=[], metavar='CKPT',
                   help='pose model to pick with (repeat to compare; e.g. the LB and a self-trained model)')
    p.add_argument('--seg', help='segmentation model (default: the shipped one for the object)')
    p.add_argument('--attempts', type=positive, default=20,
                   help='executed picks per source and seed (default 20)')
    p.add_argument('--seed', type=int, nargs='+', default=[0],
                   help='cell seed(s): the same bins for every source; several seeds pool their picks (50 picks '
                        'of one bin move by several either way)')
    p.add_argument('--fill', choices=['full', 'low'], default='full', help='parts per bin (default full)')
    p.add_argument('--calibration', help='acceptance thresholds (binpick calibrate-selection); default: the '
                                         'cell\'s rule, mu+sigma over every pose scored so far')
    p.add_argument('--ungated-row', action='store_true',
                   help='also pick with the first model without the verification gate')
    p.add_argument('--no-ground-truth', action='store_true', help='skip the ground-truth row')
    p.add_argument('--model-free', action='store_true',
                   help='the first pick of an unregistered part instead: the cost map and model-free grasps on '
                        'the simulator\'s masks (the ceiling) and on the depth baseline\'s masks; the part\'s '
                        'model is used only by the simulator')
    p.add_argument('--uois', metavar='CKPT', help='with --model-free: also pick on the masks of this '
                   'class-agnostic model (binpick train-uois, or train-seg --class-agnostic)')
    p.add_argument('--no-baseline', action='store_true', help='with --model-free: skip the depth baseline\'s row')
    p.add_argument('--grasp-quality', metavar='JSON', help='with --model-free: rank the grasps by this model\'s '
                   'chance that they hold as well (bench/grasp_quality.py; shipped: models/demo/grasp_quality.json)')
    p.add_argument('--perceptual', default='auto', choices=PERCEPTUAL_BACKENDS,
                   help='perceptual distance of the verification scores')
    p.add_argument('--out', default='results/picking', help='report folder (default results/picking)')
    p.add_argument('--threads', type=positive)
    p.set_defaults(func=_cmd_pick_bench)
