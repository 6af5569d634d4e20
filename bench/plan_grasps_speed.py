"""Time of ``plan_grasps`` (verified poses -> ranked, collision-checked CAD grasps) on a full bin of a
symmetric part: 30 random poses of hex_nut (256 grasps x 12 symmetries each) in the tote, a cloud of 40000
points, 20 candidates checked in full. Prints the median of --repeats runs and what the filters removed.

    .venv/bin/python bench/plan_grasps_speed.py [--object hex_nut] [--poses 30]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.spatial.transform import Rotation

from binpick.catalog import Catalog
from binpick.geometry import axis_angle, make_T
from binpick.grasp.candidates import EstimatedPose, Tote, plan_grasps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--object', default='hex_nut')
    parser.add_argument('--poses', type=int, default=30)
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    T_base_cam = make_T(axis_angle(np.array([1.0, 0, 0]), np.pi), [0.5, 0.0, 0.55])   # 0.55 m above the floor
    tote = Tote(make_T(np.eye(3), [0.5, 0.0, 0.0]), (0.36, 0.28, 0.12))
    obj = Catalog().get(args.object)
    rng = np.random.default_rng(0)
    poses = [EstimatedPose(make_T(Rotation.random(random_state=k).as_matrix(),
                                  [rng.uniform(-0.12, 0.12), rng.uniform(-0.09, 0.09), rng.uniform(0.47, 0.53)]),
                           0.8, 0.1, 0.001) for k in range(args.poses)]
    n = 40000
    cloud = np.column_stack([rng.uniform(0.38, 0.62, n), rng.uniform(-0.14, 0.14, n), rng.uniform(0.0, 0.06, n)])
    grasps, points = obj.grasps(), obj.sample_points(500)
    seconds = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        found, removed = plan_grasps(poses, None, None, grasps, obj.info, T_base_cam, cloud, tote,
                                     model_points_m=points, max_candidates=20)
        seconds.append(time.perf_counter() - t0)
    print(f'{args.object}: {len(grasps.grasps)} grasps, {args.poses} poses: plan_grasps median '
          f'{1000 * np.median(seconds):.0f} ms over {args.repeats} runs; {len(found)} candidates; '
          f'removed {dict(removed)}')


if __name__ == '__main__':
    main()
