"""Time per full-bin frame of what the cell's perception nodes run, one torch thread, nothing else on the
core: segmentation (the shipped model) and the pose path (network, centre voting, ICP on the 5 most certain
anchors) on the predicted masks, with the nodes' settings of config/nodes.yaml (input size, points). Frames are
rendered in the real-emulated domain (--frames of --parts parts); each frame is timed after one warm-up run
and the medians are printed. --profile also prints where the last frame's time goes, stage by stage.

    .venv/bin/python bench/perception_speed.py [--object zigzag_bracket] [--frames 3] [--parts 35] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np
import torch

from binpick.catalog import Catalog
from binpick.config import config_dir, load_yaml
from binpick.perception.pose.estimator import PoseEstimator
from binpick.perception.segmentation import Segmenter
from binpick.sim.generator import CellConfig, SceneGenerator


def timed(fn, *args) -> tuple[object, float]:
    """``fn(*args)`` after one warm-up call, and the seconds of the second call."""
    fn(*args)
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


# (stage, source file, function): the parts of the two nodes' work the profile reports, in order ('~': built-in)
STAGES = [
    ('segmentation (the whole model)', 'detection/generalized_rcnn.py', 'forward'),
    ('  resize and normalise', 'detection/transform.py', 'forward'),
    ('  region proposals (RPN)', 'detection/rpn.py', 'forward'),
    ('  box and mask heads', 'detection/roi_heads.py', 'forward'),
    ('  masks pasted into the frame', 'detection/transform.py', 'postprocess'),
    ('poses: network inputs', 'pose/inputs.py', 'prepare_instance'),
    ('poses: network', 'pose/network.py', 'forward'),
    ('poses: centre voting', 'pose/voting.py', 'vote_center'),
    ('poses: refinement (ICP and the fit)', 'pose/refine.py', 'refine'),
    ('  hidden point removal', '~', 'hidden_point_removal'),
    ('  ICP', '~', 'registration_icp'),
    ('  Chamfer distance', 'binpick/geometry.py', 'chamfer_distance'),
]


def print_profile(profile: cProfile.Profile) -> None:
    """Cumulative milliseconds of each of STAGES in ``profile``; where several functions match (a module's
    ``forward`` and its parent's), the outermost. The backbone, after the model's parts, is what they leave over."""
    stats = pstats.Stats(profile).stats
    found = {}
    for label, source, function in STAGES:
        hits = [(v[3], v[1]) for (path, _, name), v in stats.items()
                if (name == function and path.endswith(source)) or (source == '~' == path and function in name)]
        if hits:
            found[label] = max(hits)
    model, parts = STAGES[0][0], [label for label, _, _ in STAGES[1:5]]
    for label, _, _ in STAGES:
        if label in found:
            print(f'  {label:40s} {1000 * found[label][0]:6.0f} ms  ({found[label][1]} calls)')
        if label == parts[-1] and model in found:
            rest = found[model][0] - sum(found[p][0] for p in parts if p in found)
            print(f'  {"  backbone and feature pyramid (the rest)":40s} {1000 * rest:6.0f} ms')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--object', default='zigzag_bracket')
    parser.add_argument('--seg', help='segmentation checkpoint (default models/demo/OBJECT_seg.pt)')
    parser.add_argument('--pose', help='pose checkpoint (default models/demo/OBJECT_pose_lb.pt)')
    parser.add_argument('--frames', type=int, default=3)
    parser.add_argument('--parts', type=int, default=35)
    parser.add_argument('--seed', type=int, default=5)
    parser.add_argument('--input-size', type=int, help="segmentation input's short side (pixels; default: the "
                        "segmentation node's input_size_px in config/nodes.yaml, 0 for the model's own)")
    parser.add_argument('--points', type=int, help="points per instance of the pose network (default: the pose "
                        "node's points in config/nodes.yaml, 0 for the checkpoint's own)")
    parser.add_argument('--profile', action='store_true', help="print where the last frame's time goes")
    args = parser.parse_args()
    nodes = load_yaml(config_dir() / 'nodes.yaml')
    if args.input_size is None:
        args.input_size = int(nodes['/**/segmentation']['ros__parameters'].get('input_size_px', 0))
    if args.points is None:
        args.points = int(nodes['/**/pose_estimation']['ros__parameters'].get('points', 0))
    torch.set_num_threads(1)
    catalog = Catalog()
    generator = SceneGenerator(catalog.get(args.object), 'real', CellConfig.from_config())
    frames = generator.generate(seed=args.seed, n_objects=args.parts, n_frames=args.frames)
    generator.close()
    segmenter = Segmenter.load(args.seg or f'models/demo/{args.object}_seg.pt', catalog, input_size_px=args.input_size)
    estimator = PoseEstimator.load(args.pose or f'models/demo/{args.object}_pose_lb.pt', catalog, args.object,
                                   points=args.points or None)
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
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        found = segmenter.segment(frames[-1].rgb)
        estimator.estimate(frames[-1].rgb, frames[-1].depth_m, frames[-1].K, [i.mask for i in found])
        profile.disable()
        print(f'where the last frame\'s time goes ({len(found)} instances; cumulative, one thread):')
        print_profile(profile)
    print(f'median per frame: segmentation {1000 * np.median(seg_s):.0f} ms, poses {1000 * np.median(pose_s):.0f} ms; '
          f'poses {1000 * sum(pose_s) / max(instances, 1):.1f} ms per instance ({instances} instances)')


if __name__ == '__main__':
    main()
