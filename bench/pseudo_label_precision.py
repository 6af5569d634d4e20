"""How many of the teacher's pseudo labels are right: candidates on the real-emulated train split (the
frames self-training labels), the μ+σ selection of each criterion, and the share of accepted candidates
whose pose is correct (ADD(-S) < 0.1 d against the evaluation ground truth: diagnosis only). With several
--perceptual backends, each scores the same teacher estimates (d_image only differs), and the milliseconds
per 64x64 crop of each are timed in the same run on one thread.

    .venv/bin/python bench/pseudo_label_precision.py --data runs/teacher/zigzag_bracket/real \\
        --teacher models/demo/zigzag_bracket_pose_lb.pt --seg models/demo/zigzag_bracket_seg.pt [--scenes 6] \\
        [--perceptual effnet-lite0 st-lpips-alex] [--json results/perceptual/zigzag_bracket_real.json]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', required=True, type=Path, help='real-emulated binpick synth dataset')
    parser.add_argument('--teacher', required=True, help='pose checkpoint')
    parser.add_argument('--seg', required=True, help='segmentation checkpoint')
    parser.add_argument('--scenes', type=int, default=6, help='first N train scenes')
    parser.add_argument('--masks', type=Path, help='mask cache folder (default DATA/../masks/SEG-NAME/train)')
    parser.add_argument('--calibration', help='also the calibrated criterion (binpick calibrate-selection JSON)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--perceptual', nargs='+', default=['auto'], help='perceptual backends to compare')
    parser.add_argument('--json', type=Path, help='also write the figures here')
    args = parser.parse_args()

    import torch

    from binpick.catalog import Catalog
    from binpick.data.bop import BopSplit, eval_gt_dir
    from binpick.perception.mask_store import MaskStore
    from binpick.perception.pose.estimator import PoseEstimator
    from binpick.perception.segmentation import Segmenter
    from binpick.selftrain.calibration import Calibration
    from binpick.selftrain.experiment import pseudo_label_precision
    from binpick.selftrain.loop import label_frames, select_candidates
    from binpick.selftrain.perceptual import PerceptualDistance
    from binpick.selftrain.scores import PoseScorer
    torch.set_num_threads(args.threads)
    catalog = Catalog()
    teacher = PoseEstimator.load(args.teacher, catalog)
    obj = catalog.get(teacher.config.object_name)
    split = BopSplit(args.data / 'train')
    scenes = split.scene_ids()[:args.scenes]
    store = MaskStore(args.masks or args.data.parent / 'masks' / Path(args.seg).stem / 'train')
    store.fill(split, Segmenter.load(args.seg, catalog), obj.name)
    gt = BopSplit(args.data / 'train', eval_gt_dir(args.data / 'train'))
    pts = obj.sample_points(1000)
    calibration = Calibration.load(args.calibration) if args.calibration else None
    report = {'data': str(args.data), 'teacher': args.teacher, 'seg': args.seg, 'scenes': len(scenes), 'backends': {}}
    for backend in args.perceptual:
        perceptual = PerceptualDistance(backend)
        t0 = time.perf_counter()
        candidates = label_frames(teacher, PoseScorer(obj, perceptual), split, store, scene_ids=scenes,
                                  desc=perceptual.name)
        seconds = time.perf_counter() - t0
        figures = {'candidates': len(candidates), 'ms_per_crop': ms_per_crop(perceptual),
                   'ms_per_candidate': 1000 * seconds / max(1, len(candidates))}
        print(f'{perceptual.name}: {len(candidates)} candidates in {len(scenes)} scenes, '
              f'{figures["ms_per_candidate"]:.0f} ms per candidate (pose + scores), '
              f'{figures["ms_per_crop"]:.1f} ms per crop (1 thread)')
        for criterion in ('both', 'appearance', 'geometry') + (('calibrated',) if calibration else ()):
            selection = select_candidates(candidates, criterion, calibration)
            p = pseudo_label_precision(candidates, selection.accepted, gt, obj, pts)
            figures[criterion] = {'accepted': int(selection.accepted.sum()), **p}
            print(f'  {criterion:10s} accepted {int(selection.accepted.sum()):4d} / {len(candidates)}: precision '
                  f'{100 * p["precision_accepted"]:.1f} % (all candidates {100 * p["precision_all"]:.1f} %, '
                  f'rejected {100 * p["precision_rejected"]:.1f} %)')
        report['backends'][perceptual.name] = figures
    if args.json:
        from binpick.data.atomic import write_json
        write_json(args.json, report)


def ms_per_crop(perceptual, crops: int = 32, repeats: int = 3) -> float:
    """Best of ``repeats`` timings of one batch of 64x64 crop pairs, on one thread, per crop."""
    import numpy as np
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    a, b = np.random.default_rng(0).integers(0, 256, size=(2, crops, 64, 64, 3), dtype=np.uint8)
    best = float('inf')
    for _ in range(repeats):
        t0 = time.perf_counter()
        perceptual(a, b)
        best = min(best, time.perf_counter() - t0)
    torch.set_num_threads(threads)
    return 1000 * best / crops


if __name__ == '__main__':
    main()
