"""Pose losses on hand-made cases (Eqs. 6-9)."""
import math

import numpy as np
import pytest
import torch

from binpick.geometry import axis_angle
from binpick.perception.pose.losses import anchor_loss, shape_match_loss, unit_vector_loss

SQUARE = torch.tensor([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]], dtype=torch.float64) * 0.02  # 4-fold about z


def _rot(axis, angle):
    return torch.from_numpy(axis_angle(np.asarray(axis, float), angle))


def test_identical_rotations_cost_nothing():
    R = _rot([1, 2, 3], 0.7)
    assert float(shape_match_loss(R, R, SQUARE, symmetric=False)) == pytest.approx(0.0, abs=1e-15)


def test_eq7_by_hand():
    # a half turn about z moves each point of the square to its opposite: |x - (-x)|^2 = 4 |x|^2
    R = _rot([0, 0, 1], math.pi)
    expected = 0.5 * 4 * 0.02 ** 2
    assert float(shape_match_loss(R, torch.eye(3, dtype=torch.float64), SQUARE, symmetric=False)) == \
        pytest.approx(expected)


def test_eq6_ignores_symmetries_eq7_does_not():
    quarter = _rot([0, 0, 1], math.pi / 2)
    eye = torch.eye(3, dtype=torch.float64)
    assert float(shape_match_loss(quarter, eye, SQUARE, symmetric=True)) == pytest.approx(0.0, abs=1e-12)
    assert float(shape_match_loss(quarter, eye, SQUARE, symmetric=False)) > 1e-4


def test_eq8_prefers_confident_correct_anchors():
    eye = torch.eye(3, dtype=torch.float64)
    anchors = torch.stack([eye, _rot([0, 0, 1], math.pi)])[None]          # (1, 2, 3, 3)
    confident_right = torch.tensor([[0.05, 1.0]], dtype=torch.float64)
    confident_wrong = torch.tensor([[1.0, 0.05]], dtype=torch.float64)
    args = (eye[None], SQUARE, False, 0.04)
    assert float(anchor_loss(anchors, confident_right, *args)) < float(anchor_loss(anchors, confident_wrong, *args))
    # by hand: ln(0.05) + 0/(d 0.05) + ln(1) + L/(d * 1)
    L = 0.5 * 4 * 0.02 ** 2
    assert float(anchor_loss(anchors, confident_right, *args)) == pytest.approx(math.log(0.05) + L / 0.04)


def test_eq9_smooth_l1_on_valid_points():
    v = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]])
    label = torch.tensor([[[1.0, 0, 0], [0, 0, 1.0]]])
    # second point: |dy| = 1, |dz| = 1 -> smooth-L1 0.5 each -> 1.0; first point 0; mean 0.5
    assert float(unit_vector_loss(v, label)) == pytest.approx(0.5)
    assert float(unit_vector_loss(v, label, torch.tensor([[True, False]]))) == pytest.approx(0.0)


def test_anchor_classification_targets_the_nearest_anchor():
    from binpick.perception.pose.anchors import icosahedral_rotations
    from binpick.perception.pose.losses import anchor_classification_loss
    anchors = torch.from_numpy(icosahedral_rotations()).float()
    pts = torch.randn(200, 3) * 0.03
    R_label = anchors[7:8] @ torch.from_numpy(axis_angle(np.array([0.0, 0, 1]), 0.1)).float()
    right, wrong = torch.zeros(1, 60), torch.zeros(1, 60)
    right[0, 7], wrong[0, 8] = -10.0, -10.0                 # the most certain anchor: 7 (right) or 8 (wrong)
    assert anchor_classification_loss(right, anchors, R_label, pts, False) < 0.01
    assert anchor_classification_loss(wrong, anchors, R_label, pts, False) > 9.0
