"""The simulated cell: captures with ground truth that agrees with the stereo depth, picks, refills."""
import dataclasses

import numpy as np

from binpick.catalog import Catalog
from binpick.sim.camera import PinholeCamera
from binpick.sim.cell import SimCell
from binpick.sim.generator import CellConfig

CELL = dataclasses.replace(CellConfig.from_config(), camera=PinholeCamera.from_params(154.0, 154.0, 79.5, 59.5,
                                                                                      160, 120))


def test_capture_ground_truth_matches_the_stereo_depth_and_picks_empty_the_bin():
    sim = SimCell(Catalog().get('connector_block'), CELL, 'low', seed=5)
    try:
        cap = sim.capture()
        assert cap.left_rgb.shape == cap.right_rgb.shape == (120, 160, 3) and not np.array_equal(cap.left_rgb,
                                                                                                   cap.right_rgb)
        depth = sim.generator.depth_from_stereo(cap.left_rgb, cap.right_rgb)
        close = []
        for i, T in cap.T_cam_obj.items():
            u, v, w = cap.K @ T[:3, 3]
            u, v = int(round(u / w)), int(round(v / w))
            if cap.visible_px[i] > 30 and 0 <= u < 160 and 0 <= v < 120 and depth[v, u] > 0:
                close.append(abs(depth[v, u] - T[2, 3]) < 0.03)
        assert close and np.mean(close) >= 0.7
        ids = list(cap.T_cam_obj)
        assert sim.remove(ids[0]) and not sim.remove(ids[0])
        assert ids[0] not in sim.capture().T_cam_obj
        for i in ids[1:]:
            assert sim.remove(i)
        refilled = sim.capture()                              # empty: a new bin with new instance ids
        assert sim.refills == 2 and min(refilled.T_cam_obj) > max(ids)
    finally:
        sim.close()


def test_refill_every_n_captures():
    sim = SimCell(Catalog().get('connector_block'), CELL, 'low', seed=6, refill_every=2)
    try:
        first = [set(sim.capture().T_cam_obj) for _ in range(3)]
        assert first[0] == first[1] != first[2] and sim.refills == 2
    finally:
        sim.close()
