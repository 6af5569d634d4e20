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
