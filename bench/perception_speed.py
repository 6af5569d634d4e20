"""Time per full-bin frame of what the cell's perception nodes run, one torch thread, nothing else on the
core: segmentation (the shipped model) and the pose path (network, centre voting, ICP on the 5 most
certain anchors) on the predicted masks. Frames are rendered in the real-emulated domain (--frames of
--parts parts); each frame is timed after one warm-up run and the medians are printed.

    .venv/bin/python bench/perception_speed.py [--object zigzag_bracket] [--frames 3] [--parts 35]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from binpick.catalog import Catalog
from binpick.perception.pose.estimator import PoseEstimator
from binpick.perception.segmentation import Segmenter
from binpick.sim.generator import CellConfig, SceneGenerator


def timed(fn, *args) -> tuple[object, float]:
    """``fn(*args)`` after one warm-up call, and the seconds of the second call."""
    fn(*args)
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--object', default='zigzag_bracket')
    parser.add_argument('--seg', help='segmentation checkpoint (default models/demo/OBJECT_seg.pt)')
    parser.add_argument('--pose', help='pose checkpoint (default models/demo/OBJECT_pose_lb.pt)')
    parser.add_argument('--frames', type=int, default=3)
    parser.add_argument('--parts', type=int, default=35)
    parser.add_argument('--seed', type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    catalog = Catalog()
    generator = SceneGenerator(catalog.get(args.object), 'real', CellConfig.from_config())
    frames = generator.generate(seed=args.seed, n_objects=args.parts, n_frames=args.frames)
    generator.close()
    segmenter = Segmenter.load(args.seg or f'models/demo/{args.object}_seg.pt', catalog)
    estimator = PoseEstimator.load(args.pose or f'models/demo/{args.object}_pose_lb.pt', catalog, args.object)
    seg_s, pose_s, instances = [], [], 0
    for f in frames:
        found, seconds = timed(segmenter.segment, f.rgb)
        seg_s.append(seconds)
        masks = [i.mask for i in found]
        _, seconds = timed(estimator.estimate, f.rgb, f.depth_m, f.K, masks)
        pose_s.append(seconds)
        instances += len(masks)
        print(f'frame: {len(masks)} instances, segmentation {1000 * seg_s[-1]:.0f} ms, '
              f'poses {1000 * pose_s[-1]:.0f} ms')
    print(f'median per frame: segmentation {1000 * np.median(seg_s):.0f} ms, poses {1000 * np.median(pose_s):.0f} ms; '
          f'poses {1000 * sum(pose_s) / max(instances, 1):.1f} ms per instance ({instances} instances)')


if __name__ == '__main__':
    main()
