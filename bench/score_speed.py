"""Verification throughput (wanted: >= 30 instances/s): PoseScorer on real-emulated frames.

    python bench/score_speed.py [DATASET] [--frames N] [--threads T]

Scores every instance (at least 100 visible pixels) of the first N test frames at its ground-truth
pose (the pose does not change the cost) and prints instances per second for the whole call:
rendering, Eq. 3, the perceptual distance (batched per frame), hidden point removal and Eq. 5.
"""
import argparse
import json
import time

import torch

from binpick.catalog import Catalog
from binpick.data.bop import BopSplit
from binpick.selftrain.scores import PoseScorer

parser = argparse.ArgumentParser()
parser.add_argument('dataset', nargs='?', default='data/zigzag_real')
parser.add_argument('--frames', type=int, default=8)
parser.add_argument('--threads', type=int, default=2)
args = parser.parse_args()
torch.set_num_threads(args.threads)
with open(f'{args.dataset}/dataset_info.json') as f:
    obj = Catalog().get(json.load(f)['object_name'])
split = BopSplit(f'{args.dataset}/test')
frames = [f for s in split.scene_ids() for f in split.frames(s, with_masks=True)][:args.frames]
scorer = PoseScorer(obj)
scorer.score(frames[0].rgb, frames[0].depth_m, frames[0].camera.K, frames[0].masks_visib[:1],
             [frames[0].gt[0].T_cam_obj])                                           # warm-up (imports)
n, t0 = 0, time.perf_counter()
for f in frames:
    keep = [k for k, m in enumerate(f.masks_visib) if m.sum() >= 100]
    scorer.score(f.rgb, f.depth_m, f.camera.K, [f.masks_visib[k] for k in keep], [f.gt[k].T_cam_obj for k in keep])
    n += len(keep)
seconds = time.perf_counter() - t0
print(f'{n} instances in {seconds:.2f} s: {n / seconds:.1f} instances/s '
      f'({scorer.perceptual.name}, geometry {scorer.geometry}, {args.threads} threads)')
