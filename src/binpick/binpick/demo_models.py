"""The models ``binpick demo`` runs with, shipped in ``models/demo/``: the segmentation model and the pose
teacher (the lower bound: synthetic bins only) of the default part, as inference-only checkpoints.

They are the models measured in the README, made by ``bash bench/pose_bounds.sh zigzag_bracket WORK``
(``WORK/seg.pt`` and ``WORK/pose_lb.pt``) and shipped with ``python -m binpick.demo_models WORK``.
A self-trained student of the teacher (``binpick selftrain``) ships beside it as ``OBJECT_pose_st.pt``
with ``python -m binpick.demo_models --self-trained RUN/iter_NN/student.pt``, and the class-agnostic
segmentation of parts nobody registered (``bash bench/uois.sh WORK``) as ``uois_maskrcnn.pt`` with
``python -m binpick.demo_models --class-agnostic WORK/maskrcnn.pt``.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, replace
from pathlib import Path

from binpick.config import source_or_share

SHIPPED = source_or_share('models/demo')   # this checkout's, or the copy setup.py installs


def model_paths(folder: Path, object_name: str) -> dict[str, Path]:
    return {'seg': folder / f'{object_name}_seg.pt', 'pose': folder / f'{object_name}_pose_lb.pt'}


def ship_self_trained(pose: Path, out: Path = SHIPPED) -> Path:
    """Strip a self-trained pose checkpoint into ``out`` as ``OBJECT_pose_st.pt``."""
    from binpick.perception import checkpoint
    from binpick.perception.pose.estimator import KIND as POSE_KIND
    from binpick.perception.pose.estimator import PoseEstimator
    path = out / f'{PoseEstimator.load(pose).config.object_name}_pose_st.pt'
    checkpoint.strip(pose, path, POSE_KIND)
    return path


def _seg_config_with(seg: Path, mask_threshold: float | None) -> dict | None:
    """The segmentation checkpoint's config with ``mask_threshold`` replaced (None: keep the checkpoint's)."""
    from binpick.perception import checkpoint
    from binpick.perception.seg_model import SegConfig
    from binpick.perception.segmentation import KIND as SEG_KIND
    if mask_threshold is None:
        return None
    trained = SegConfig(**checkpoint.load(seg, SEG_KIND)['config'])
    return asdict(replace(trained, mask_threshold=mask_threshold))


def ship_class_agnostic(seg: Path, out: Path = SHIPPED, mask_threshold: float | None = None) -> Path:
    """Strip a ``train-seg --class-agnostic`` checkpoint into ``out`` as ``uois_maskrcnn.pt``; refuses a
    segmentation model of catalog parts (``CheckpointError``). ``mask_threshold`` replaces the checkpoint's
    (chosen on validation frames with ``eval-uois --mask-threshold``)."""
    from binpick.modelfree.uois import load_segmenter
    from binpick.perception import checkpoint
    from binpick.perception.segmentation import KIND as SEG_KIND
    load_segmenter(seg)
    path = out / 'uois_maskrcnn.pt'
    checkpoint.strip(seg, path, SEG_KIND, _seg_config_with(seg, mask_threshold))
    return path


def ship(seg: Path, pose: Path, out: Path = SHIPPED, mask_threshold: float | None = None) -> dict[str, Path]:
    """Strip a segmentation and a pose checkpoint into ``out`` under the demo's names; ``mask_threshold``
    replaces the segmentation's (chosen on synthetic validation frames with ``eval-seg --mask-threshold``)."""
    from binpick.perception import checkpoint
    from binpick.perception.pose.estimator import KIND as POSE_KIND
    from binpick.perception.pose.estimator import PoseEstimator
    from binpick.perception.segmentation import KIND as SEG_KIND
    paths = model_paths(out, PoseEstimator.load(pose).config.object_name)
    checkpoint.strip(seg, paths['seg'], SEG_KIND, _seg_config_with(seg, mask_threshold))
    checkpoint.strip(pose, paths['pose'], POSE_KIND)
    return paths


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description='ship WORK/seg.pt and WORK/pose_lb.pt as the demo models')
    parser.add_argument('work', type=Path, nargs='?', help='the work folder of bench/pose_bounds.sh')
    parser.add_argument('--seg', type=Path, help='segmentation checkpoint (default WORK/seg.pt)')
    parser.add_argument('--pose', type=Path, help='pose checkpoint (default WORK/pose_lb.pt)')
    parser.add_argument('--mask-threshold', type=float, help='mask probability threshold of the shipped segmentation')
    parser.add_argument('--self-trained', type=Path, metavar='CKPT',
                        help='ship only this self-trained pose checkpoint, as OBJECT_pose_st.pt')
    parser.add_argument('--class-agnostic', type=Path, metavar='CKPT',
                        help='ship only this class-agnostic segmentation checkpoint, as uois_maskrcnn.pt')
    args = parser.parse_args()
    if args.self_trained:
        path = ship_self_trained(args.self_trained)
        parser.exit(0, f'pose (self-trained): {path} ({path.stat().st_size / 1e6:.1f} MB)\n')
    if args.class_agnostic:
        path = ship_class_agnostic(args.class_agnostic, mask_threshold=args.mask_threshold)
        parser.exit(0, f'class-agnostic segmentation: {path} ({path.stat().st_size / 1e6:.1f} MB)\n')
    if args.work is None and not (args.seg and args.pose):
        parser.error('give WORK, or both --seg and --pose')
    seg, pose = args.seg or args.work / 'seg.pt', args.pose or args.work / 'pose_lb.pt'
    for kind, path in ship(seg, pose, mask_threshold=args.mask_threshold).items():
        print(f'{kind}: {path} ({path.stat().st_size / 1e6:.1f} MB)')
