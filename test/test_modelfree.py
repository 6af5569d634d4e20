"""Unseen-object segmentation: the object-level scores, and the depth-only baseline on a simulated bin."""
import numpy as np
import pytest
from conftest import small_synth_dataset

from binpick.data.bop import BopSplit
from binpick.modelfree.depth_segmentation import floor_plane, segment_by_depth
from binpick.modelfree.metrics import ObjectScores, iou_matrix, match


def _box(y0, y1, x0, x1, shape=(20, 20)):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_object_scores_match_one_to_one_at_iou_half():
    gt = [_box(0, 10, 0, 10), _box(10, 20, 10, 20), _box(0, 5, 15, 20)]
    pred = [_box(0, 10, 0, 9),          # IoU 0.9 with gt 0
            _box(0, 10, 0, 8),          # the same part again: 0.8, but gt 0 is taken -> false positive
            _box(10, 20, 10, 14)]       # IoU 0.4 with gt 1: below 0.5 -> false positive, gt 1 missed
    assert iou_matrix(pred, gt)[0, 0] == pytest.approx(0.9)
    assert match(pred, gt) == [(0, 0)]
    s = ObjectScores()
    s.add(pred, gt)
    s.add([], [_box(0, 3, 0, 3)])
    assert (s.true_positives, s.false_positives, s.false_negatives) == (1, 2, 3)
    assert s.precision == pytest.approx(1 / 3) and s.recall == pytest.approx(1 / 4)
    assert s.f1 == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))
    assert ObjectScores().f1 == 0.0


@pytest.fixture(scope='module')
def bin_frames(tmp_path_factory):
    data = small_synth_dataset(tmp_path_factory.mktemp('uois') / 'ds', 'connector_block', width=320, seed=8)
    split = BopSplit(data / 'train')
    return [f for s in split.scene_ids() for f in split.frames(s, with_masks=True)]


def test_depth_baseline_finds_parts_it_was_never_told_about(bin_frames):
    scores = ObjectScores()
    for f in bin_frames:
        a, b, c, d = floor_plane(f.depth_m, f.camera.K)
        assert c < -0.95 and 0.4 < d < 0.7         # the tote floor, its normal towards the camera, 0.55 m away
        masks = segment_by_depth(f.depth_m, f.camera.K)
        assert all(m.shape == f.depth_m.shape and m.any() for m in masks)
        assert not np.any(np.sum(masks, axis=0) > 1) if masks else True   # instances do not overlap
        scores.add(masks, [m for m in f.masks_visib if m.sum() >= 30])
    assert scores.precision > 0.5 and scores.recall > 0.3, (scores.precision, scores.recall)


# -- the first pick: cost map and model-free grasps on a hand-made depth image -------------------------
K_SMALL = np.array([[600.0, 0, 160], [0, 600.0, 120], [0, 0, 1]])


def _boxes_scene():
    """A camera 0.5 m above a tote floor (base z = 0), looking straight down, over three boxes:
    A 40x20 mm and 30 mm tall at the centre, B 20x20x10 mm beside it, C 100x100x10 mm (too wide to grip)."""
    from binpick.geometry import make_T
    from binpick.grasp.candidates import Tote
    T_base_cam = make_T(np.diag([1.0, -1.0, -1.0]), [0.0, 0.0, 0.5])
    tote = Tote(np.eye(4), (0.4, 0.4, 0.12))
    h, w = 240, 320
    vs, us = np.mgrid[0:h, 0:w]
    depth = np.full((h, w), 0.5)
    x_cam, y_cam = (us - 160) * 0.5 / 600, (vs - 120) * 0.5 / 600      # on the floor plane (near enough)
    boxes = [((0.0, 0.0), (0.020, 0.010), 0.030), ((0.05, 0.0), (0.010, 0.010), 0.010),
             ((-0.05, 0.08), (0.050, 0.050), 0.010)]
    masks = []
    for (cx, cy), (hx, hy), height in boxes:
        # camera x is base x, camera y is base -y
        m = (np.abs(x_cam - cx) < hx) & (np.abs(-y_cam - cy) < hy)
        depth[m] = 0.5 - height
        masks.append(m)
    return depth, masks, T_base_cam, tote


def test_cost_map_prefers_the_top_of_the_pile():
    from binpick.modelfree.first_pick import cost_map
    depth, masks, T_base_cam, tote = _boxes_scene()
    cmap = cost_map(depth, K_SMALL, masks, T_base_cam, tote)
    assert cmap.height_m[0] == pytest.approx(0.030, abs=0.002) and cmap.height_m[1] == pytest.approx(0.010, abs=0.002)
    assert cmap.score[masks[0]].max() > cmap.score[masks[1]].max() > 0
    assert not cmap.score[~(masks[0] | masks[1] | masks[2])].any()          # nothing off the masks
    # the middle of a part beats its edge
    assert cmap.score[120, 160] > cmap.score[masks[0]].min()
    assert cmap.unoccluded.tolist() == [1.0, 1.0, 1.0]


def test_model_free_grasps_close_across_the_narrow_side():
    from binpick.grasp.candidates import GraspFilter
    from binpick.modelfree.first_pick import CostMapConfig, model_free_grasps
    depth, masks, T_base_cam, tote = _boxes_scene()
    found, removed, _ = model_free_grasps(depth, K_SMALL, masks, T_base_cam, tote)
    assert found and found[0].instance == 0                                   # the top box first
    best = found[0]
    assert best.T_base_tcp[:3, 2] @ [0.0, 0.0, -1.0] > 0.99                   # straight down
    assert abs(best.T_base_tcp[:3, 1] @ [0.0, 1.0, 0.0]) > 0.95                # across its 20 mm side
    assert best.opening_m == pytest.approx(0.020 + 0.010, abs=0.003)
    assert abs(best.T_base_tcp[1, 3]) < 0.002              # centred across the box: both fingers touch at once
    # fingertips (10 mm past the TCP) tip_depth_m below the top; on a low box (10 mm) they hold all of its side
    # down to floor_gap_m above the floor, and a tilted grasp's lowest corner stays half of that above it
    assert best.T_base_tcp[2, 3] - 0.010 == pytest.approx(0.030 - CostMapConfig().tip_depth_m, abs=0.002)
    low_box = [c.T_base_tcp[2, 3] - 0.010 for c in model_free_grasps(depth, K_SMALL, masks[1:2], T_base_cam, tote)[0]]
    assert low_box and min(low_box) == pytest.approx(CostMapConfig().floor_gap_m, abs=0.001)
    assert min(low_box) < GraspFilter().clearance_m
    assert not any(c.instance == 2 for c in found) and removed['wider than the gripper'] > 0
    # where a pick just failed is not tried again at once
    again, removed_again, _ = model_free_grasps(depth, K_SMALL, masks, T_base_cam, tote,
                                                avoid_m=[best.T_base_tcp[:3, 3]], avoid_radius_m=0.01)
    assert again and removed_again['where a pick just failed'] > 0
    assert all(np.linalg.norm(c.T_base_tcp[:3, 3] - best.T_base_tcp[:3, 3]) >= 0.01 for c in again)
    # a box standing at the edge of the tote's floor has no room for a finger against the wall
    near_wall = type(tote)(np.eye(4), (0.042, 0.4, 0.12))
    assert not [c for c in model_free_grasps(depth, K_SMALL, masks[:1], T_base_cam, near_wall)[0]
                if abs(c.T_base_tcp[:3, 1] @ [1.0, 0.0, 0.0]) > 0.9]


def test_cost_map_figure_draws_the_fingers_across_the_part(tmp_path):
    import cv2

    from binpick.grasp.pipeline import PickDecision
    from binpick.modelfree.cost_map_figure import finger_pixels, save_cost_map_figure
    from binpick.modelfree.first_pick import model_free_grasps
    from binpick.sim.camera import PinholeCamera
    depth, masks, T_base_cam, tote = _boxes_scene()
    found, _, cmap = model_free_grasps(depth, K_SMALL, masks, T_base_cam, tote)
    uv = finger_pixels(found[0].T_base_tcp, found[0].opening_m, T_base_cam, PinholeCamera(K_SMALL, 320, 240))
    # the top box is grasped across its 20 mm side: both fingers in its column, one on either side of its mask
    column = int(round(uv[0, 0]))
    rows = np.nonzero(masks[0][:, column])[0]
    assert abs(uv[0, 0] - uv[1, 0]) < 1 and len(rows)
    assert uv[:, 1].min() < rows.min() and uv[:, 1].max() > rows.max()
    rgb = np.full(depth.shape + (3,), 90, np.uint8)
    path = save_cost_map_figure(tmp_path / 'cost_map.png', rgb, masks, cmap,
                                PickDecision(found[0], None, '', 3, len(found), 0.0), K_SMALL, T_base_cam)
    image = cv2.imread(str(path))
    assert image is not None and image.shape[1] > 2 * image.shape[0] > 200      # three panels side by side
    assert not list(tmp_path.glob('.*.tmp'))                                        # written atomically


def test_the_first_pick_remembers_where_picks_failed():
    from binpick.modelfree.first_pick import ModelFreePipeline, model_free_grasps
    depth, masks, T_base_cam, tote = _boxes_scene()
    found, _, _ = model_free_grasps(depth, K_SMALL, masks, T_base_cam, tote)
    pipeline = ModelFreePipeline(T_base_cam, tote, kinematics=None, planner=None, remember_failures=2)
    pipeline.report(found[0], success=True)
    assert not pipeline.failed_at                                          # a success leaves nothing to avoid
    for c in found[:3]:
        pipeline.report(c, success=False)
    assert [p.tolist() for p in pipeline.failed_at] == [c.T_base_tcp[:3, 3].tolist() for c in found[1:3]]
    assert not ModelFreePipeline(T_base_cam, tote, None, None, remember_failures=0).failed_at.maxlen


def test_grasp_features_read_the_grip_off_the_observed_points():
    from binpick.modelfree.first_pick import model_free_grasps
    from binpick.modelfree.grasp_quality import FEATURES, GraspQuality
    depth, masks, T_base_cam, tote = _boxes_scene()
    found, _, _ = model_free_grasps(depth, K_SMALL, masks, T_base_cam, tote)
    best = dict(zip(FEATURES, found[0].features))
    assert best['opening_mm'] == pytest.approx(1000 * found[0].opening_m)
    assert best['band_width_mm'] <= 25                  # within the finger's width (20 mm) and its margin
    assert best['centroid_y_mm'] < 2                    # the fingers are centred on the part
    assert best['height_mm'] == pytest.approx(30, abs=2) and best['tilt_deg'] < 5
    # the top box is the frame's typical instance (the median of the three) and 40 mm long
    assert best['length_mm'] == pytest.approx(38, abs=3)
    assert best['points_vs_typical'] == pytest.approx(1) and best['length_vs_typical'] == pytest.approx(1)
    assert np.isnan(found[0].p_hold)                    # no quality model: no probability
    # a quality model that says grasps low in the pile hold puts the low box first; its probabilities are kept
    low = GraspQuality(np.zeros(len(FEATURES)), np.ones(len(FEATURES)),
                       [(-0.5 * (np.array(FEATURES) == 'height_mm')[None], np.array([10.0]))])
    ranked, _, _ = model_free_grasps(depth, K_SMALL, masks, T_base_cam, tote, quality=low)
    assert ranked[0].instance == 1 and ranked[0].p_hold > 0.9
    assert all(0 <= c.p_hold <= 1 for c in ranked)


def test_grasp_quality_learns_which_grasps_hold_and_refuses_a_foreign_file(tmp_path):
    import json

    from binpick.modelfree.grasp_quality import FEATURES, GraspQuality, GraspQualityError
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 60, size=(600, len(FEATURES)))
    held = x[:, FEATURES.index('opening_mm')] + rng.normal(0, 5, 600) < 30        # narrow grips hold
    model = GraspQuality.fit(x[:400], held[:400], trained_on='synthetic')
    p = model(x[400:])
    assert ((p > 0.5) == held[400:]).mean() > 0.85
    probe = np.repeat(x[400:401], 2, axis=0)
    probe[:, FEATURES.index('opening_mm')] = [10, 50]
    assert model(probe)[0] > 0.8 > 0.2 > model(probe)[1]          # only the opening tells them apart
    model.save(tmp_path / 'gq.json')
    assert np.allclose(GraspQuality.load(tmp_path / 'gq.json')(x[400:]), p)
    data = json.loads((tmp_path / 'gq.json').read_text())
    (tmp_path / 'old.json').write_text(json.dumps({**data, 'features': data['features'][:-1]}))
    with pytest.raises(GraspQualityError, match='old.json.*features'):
        GraspQuality.load(tmp_path / 'old.json')
    (tmp_path / 'short.json').write_text(json.dumps({**data, 'layers': data['layers'][1:]}))
    with pytest.raises(GraspQualityError, match='short.json'):
        GraspQuality.load(tmp_path / 'short.json')


def test_grasp_quality_fits_the_share_of_hand_tests_that_held():
    from binpick.modelfree.grasp_quality import FEATURES, GraspQuality
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 60, size=(1000, len(FEATURES)))
    opening = FEATURES.index('opening_mm')
    rate = 1.0 / (1.0 + np.exp((x[:, opening] - 30.0) / 4.0))        # half the trials hold at 30 mm
    share = rng.binomial(4, rate) / 4.0                                # four hand tests per grasp
    model = GraspQuality.fit(x, share, hidden=8)
    probe = np.repeat(x[:1], 3, axis=0)
    probe[:, opening] = [10, 30, 50]
    p = model(probe)
    assert p[0] > 0.9 and 0.25 < p[1] < 0.75 and p[2] < 0.1


def test_pick_bench_refuses_a_grasp_quality_file_it_cannot_use(tmp_path, capsys):
    from binpick.cli import main
    (tmp_path / 'gq.json').write_text('{"format": "binpick-grasp-quality/0"}')
    assert main(['pick-bench', '--model-free', '--grasp-quality', str(tmp_path / 'gq.json'), '--attempts', '1',
                 '--out', str(tmp_path / 'out')]) == 1
    assert 'gq.json: field format' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()                    # nothing written
