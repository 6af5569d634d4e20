"""Why model-free first picks fail: each executed pick of the pick bench's model-free source, with its chosen
mask compared to the simulator's instances (the largest part's share of the mask, the share of that part's
visible pixels the mask covers) and the width between the fingers measured on the mask's points against the
same on the true part's points (TCP frame, closing axis y, millimetres). Writes one JSON row per pick.

    .venv/bin/python bench/first_pick_slips.py --uois models/demo/uois_maskrcnn.pt --out slips.json
    .venv/bin/python bench/first_pick_slips.py --out slips_sim.json          # the simulator's masks
    .venv/bin/python bench/first_pick_slips.py --uois models/demo/uois_maskrcnn.pt --seed 2 --tip-depth-mm 15 \
        --out slips_tip15_s2.json       # another bin, the fingertips as deep as until 2026-12-04
    .venv/bin/python bench/first_pick_slips.py --uois models/demo/uois_maskrcnn.pt --hold-test --out held.json
        # each executed grasp also tried on the part alone in the hand test (does physics foresee the slips?)
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from binpick.catalog import Catalog
from binpick.evaluation.pick_bench import ModelFreeMasks, run_source
from binpick.geometry import backproject, invert
from binpick.grasp.grasp_set import Gripper
from binpick.modelfree.first_pick import CostMapConfig, finger_band
from binpick.sim.generator import CellConfig
from binpick.sim.hand import FloatingHand


def lever_mm(region: np.ndarray, depth_m: np.ndarray, K: np.ndarray, T_base_cam: np.ndarray,
             T_base_tcp: np.ndarray) -> float:
    """The distance of ``region``'s point centroid from the closing line (TCP x), millimetres."""
    vs, us = np.nonzero(region & (depth_m > 0))
    pts = backproject(us, vs, depth_m, K) @ T_base_cam[:3, :3].T + T_base_cam[:3, 3]
    return 1000 * abs(float((pts.mean(axis=0) - T_base_tcp[:3, 3]) @ T_base_tcp[:3, 0])) if len(pts) else 0.0


def finger_band_mm(region: np.ndarray, depth_m: np.ndarray, K: np.ndarray, T_base_cam: np.ndarray,
                   T_base_tcp: np.ndarray) -> list[float]:
    """[low, high, points]: the extent along the closing axis of ``region``'s points between the finger pads
    (``first_pick.finger_band``), millimetres."""
    vs, us = np.nonzero(region & (depth_m > 0))
    pts = backproject(us, vs, depth_m, K) @ T_base_cam[:3, :3].T + T_base_cam[:3, 3]
    band = finger_band((pts - T_base_tcp[:3, 3]) @ T_base_tcp[:3, :3], Gripper(), CostMapConfig())
    return [1000 * float(band[:, 1].min()), 1000 * float(band[:, 1].max()), len(band)] if len(band) else [0.0, 0.0, 0]


def mask_part(mask: np.ndarray, instance_image: np.ndarray) -> tuple[int, float]:
    """The simulator's part that covers most of ``mask`` (-1 when the mask lies on no part: the tote) and
    the share of the mask it covers."""
    ids, counts = np.unique(instance_image[mask], return_counts=True)
    on_part = np.where(ids >= 0, counts, 0)
    if not on_part.any():
        return -1, 0.0
    return int(ids[np.argmax(on_part)]), float(on_part.max() / mask.sum())


def hold_test(hand: FloatingHand, T_cam_obj: np.ndarray, T_base_cam: np.ndarray, T_base_tcp: np.ndarray,
              width_m: float, trials: int = 1, rng: np.random.Generator | None = None) -> float:
    """The share of ``trials`` in which the grasp holds the part alone in the hand test (``sim/hand.py``), the
    part lying as in the bin; the first trial exact, the others missing the grasp a little (``rng``)."""
    T_base_obj = T_base_cam @ T_cam_obj
    return hand.hold_rate(invert(T_base_obj) @ T_base_tcp, width_m, trials, rng or np.random.default_rng(0),
                          T_base_obj[:3, :3])


class Diagnosed(ModelFreeMasks):
    """A model-free source that records, for every planned pick, its mask against the simulator's instances."""

    def __init__(self, name: str, segment=None, config: CostMapConfig | None = None,
                 hand: FloatingHand | None = None) -> None:
        """``hand``: a ``FloatingHand`` of the part, to try each executed grasp on the part alone as well."""
        super().__init__(name, segment, config=config)
        self.hand = hand
        self.rows: list[dict] = []

    def for_cell(self, cell, planner):
        decide_pick = super().for_cell(cell, planner)

        def decide(cap, depth_m):
            decision, n = decide_pick(cap, depth_m)
            if decision.plan is not None:
                mask = self.last_masks[decision.candidate.instance]
                part, share = mask_part(mask, cap.instance_image)
                truth = cap.instance_image == part
                T = decision.candidate.T_base_tcp
                self.rows.append({'part': part, 'share_of_mask': share,
                                  'share_of_part': float((mask & truth).sum() / max(1, truth.sum())),
                                  'opening_mm': 1000 * decision.candidate.opening_m,
                                  'band_mask_mm': finger_band_mm(mask, depth_m, cap.K, cell.T_base_cam, T),
                                  'band_part_mm': finger_band_mm(truth, depth_m, cap.K, cell.T_base_cam, T),
                                  'lever_mask_mm': lever_mm(mask, depth_m, cap.K, cell.T_base_cam, T),
                                  'lever_part_mm': lever_mm(truth, depth_m, cap.K, cell.T_base_cam, T)})
                if self.hand is not None and part >= 0:
                    self.rows[-1]['hold_test'] = hold_test(self.hand, cap.T_cam_obj[part], cell.T_base_cam, T,
                                                           decision.candidate.opening_m) == 1.0
            return decision, n
        return decide


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--object', default='zigzag_bracket')
    parser.add_argument('--uois', help='class-agnostic segmenter (default: the simulator\'s masks)')
    parser.add_argument('--attempts', type=int, default=50)
    parser.add_argument('--seed', type=int, default=0, help='the cell\'s seed (its bins)')
    parser.add_argument('--tip-depth-mm', type=float, default=1000 * CostMapConfig.tip_depth_m,
                        help='how far below the grasp point the fingertips go (default %(default)s)')
    parser.add_argument('--full-contact-points', type=int, default=CostMapConfig.full_contact_points)
    parser.add_argument('--w-narrow', type=float, default=CostMapConfig.w_narrow)
    parser.add_argument('--interior-px', type=float, default=CostMapConfig.interior_px,
                        help='distance from the mask border that counts as fully inside (default %(default)s)')
    parser.add_argument('--hold-test', action='store_true',
                        help='also try each executed grasp on the part alone in the hand test (hold_test per row)')
    parser.add_argument('--out', required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    segment = None
    if args.uois:
        from binpick.modelfree.uois import load_segmenter
        segmenter = load_segmenter(args.uois)

        def segment(cap, depth_m):
            return [i.mask for i in segmenter.segment(cap.left_rgb, depth_m, cap.K)]
    obj = Catalog().get(args.object)
    config = CostMapConfig(tip_depth_m=args.tip_depth_mm / 1000, full_contact_points=args.full_contact_points,
                           w_narrow=args.w_narrow, interior_px=args.interior_px)
    source = Diagnosed('diagnosed', segment, config, FloatingHand(obj) if args.hold_test else None)
    cycles = run_source(obj, CellConfig.from_config(), source, args.attempts, seed=args.seed)
    for row, cycle in zip(source.rows, [c for c in cycles if c.executed]):
        row['success'], row['reason'] = cycle.success, cycle.reason
    with open(args.out, 'w') as f:
        json.dump(source.rows, f, indent=1)
    slips = [r for r in source.rows if r['reason'] == 'slipped']
    print(f'{sum(r["success"] for r in source.rows)} / {len(source.rows)} picks; {len(slips)} slips')
    for name, rows in (('slips', slips), ('successes', [r for r in source.rows if r['success']])):
        if rows:
            print(f'{name}: median share of the mask on one part {np.median([r["share_of_mask"] for r in rows]):.2f}, '
                  f'of the part covered {np.median([r["share_of_part"] for r in rows]):.2f}, openings <= 45 mm: '
                  f'{sum(r["opening_mm"] <= 45 for r in rows)} of {len(rows)}, median lever of the part '
                  f'{np.median([r["lever_part_mm"] for r in rows]):.1f} mm')
    if args.hold_test:
        for held in (True, False):
            rows = [r for r in source.rows if r.get('hold_test') == held]
            print(f'hand test {"holds" if held else "drops"}: {len(rows)} picks, '
                  f'{sum(r["success"] for r in rows)} succeeded in the cell, '
                  f'{sum(r["reason"] == "slipped" for r in rows)} slipped')


if __name__ == '__main__':
    main()
