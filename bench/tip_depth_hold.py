"""How deep the fingertips must reach on a low part: the hand test (``sim/hand.py``) of a part lying as its
CAD frame has it (z up), gripped straight down across its middle along its x axis, the fingertips 1 to 8 mm
below its top; each depth tried ``--trials`` times, the first exact, the others missing the grasp by up to
2 mm and 3 degrees. Prints the share that held per depth. Behind ``CostMapConfig.floor_gap_m``: with the
fingertips kept 5 mm above the tote floor (until 2026-12-06), a spacer ring lying flat (8 mm) was held by its
top 3 mm.

    .venv/bin/python bench/tip_depth_hold.py --object spacer_ring
"""
from __future__ import annotations

import argparse

import numpy as np

from binpick.catalog import Catalog
from binpick.geometry import make_T
from binpick.modelfree.first_pick import TIP_PAST_TCP_M
from binpick.sim.hand import FloatingHand


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--object', default='spacer_ring')
    parser.add_argument('--trials', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    obj = Catalog().get(args.object)
    (x_min, _, _), (x_max, _, z_top) = obj.mesh.bounds
    width_m = float(x_max - x_min)
    # gripper z straight down, closing (y) along the part's x, centred on the part's middle
    R_obj_grasp = np.column_stack([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    rng = np.random.default_rng(args.seed)
    print(f'{args.object}: {1000 * width_m:.0f} mm across, top {1000 * z_top:.1f} mm above its origin')
    with FloatingHand(obj) as hand:
        for tip_mm in range(1, 9):
            T_obj_grasp = make_T(R_obj_grasp, [(x_min + x_max) / 2, 0.0, z_top - tip_mm / 1000 + TIP_PAST_TCP_M])
            held = hand.hold_rate(T_obj_grasp, width_m, args.trials, rng)
            print(f'fingertips {tip_mm} mm below the top: held {held:.0%}', flush=True)


if __name__ == '__main__':
    main()
