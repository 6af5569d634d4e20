"""Object-level precision, recall and F1 (IoU >= 0.5) of the depth-only baseline segmentation on the
test split of binpick synth datasets (ground-truth instances at least 10 % visible and 30 px).

    .venv/bin/python bench/uois_baseline.py runs/teacher/zigzag_bracket/syn runs/teacher/zigzag_bracket/real
"""
from __future__ import annotations

import argparse

from binpick.data.bop import BopSplit
from binpick.modelfree.depth_segmentation import segment_by_depth
from binpick.modelfree.metrics import ObjectScores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('datasets', nargs='+')
    parser.add_argument('--frames', type=int, default=10, help='every 4th test frame, up to this many')
    args = parser.parse_args()
    for data in args.datasets:
        split = BopSplit(f'{data}/test')
        frames = [f for s in split.scene_ids() for f in split.frames(s, with_masks=True)][::4][:args.frames]
        scores = ObjectScores()
        for f in frames:
            gt = [m for m, i in zip(f.masks_visib, f.gt_info) if i.visib_fract >= 0.1 and m.sum() >= 30]
            scores.add(segment_by_depth(f.depth_m, f.camera.K), gt)
        print(f'{data}: {len(frames)} frames, precision {scores.precision:.2f}, recall {scores.recall:.2f}, '
              f'F1 {scores.f1:.2f}')


if __name__ == '__main__':
    main()
