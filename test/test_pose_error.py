"""ADD / ADD-S and recall on hand-computed cases."""
import numpy as np
import pytest

from binpick.catalog.models_info import ModelInfo
from binpick.data.bop_results import PoseEstimate
from binpick.evaluation.pose_error import add, add_or_adds, adds, is_correct
from binpick.evaluation.recall import GtTarget, recall
from binpick.evaluation.rules import RULES
from binpick.geometry import axis_angle, make_T

# a square ring of 8 points in the xy-plane: 4-fold symmetric about z
PTS = np.array([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0],
                [1, 1, 0], [-1, 1, 0], [-1, -1, 0], [1, -1, 0]], dtype=float) * 0.01
T_GT = make_T(axis_angle(np.array([0.2, 0.5, 1.0]), 0.4), np.array([0.05, -0.02, 0.6]))


def test_identity_pose_has_zero_error():
    assert add(T_GT, T_GT, PTS) == 0.0
    assert adds(T_GT, T_GT, PTS) == 0.0


def test_pure_translation_gives_add_equal_to_its_length():
    d = np.array([0.003, -0.004, 0.0])   # |d| = 5 mm
    T_est = T_GT.copy()
    T_est[:3, 3] += d
    assert add(T_est, T_GT, PTS) == pytest.approx(0.005)


def test_symmetry_rotation_is_free_under_adds_but_not_add():
    T_est = T_GT @ make_T(axis_angle(np.array([0.0, 0.0, 1.0]), np.pi / 2), np.zeros(3))
    assert adds(T_est, T_GT, PTS) == pytest.approx(0.0, abs=1e-12)
    assert add(T_est, T_GT, PTS) > 0.01
    assert add_or_adds(T_est, T_GT, PTS, symmetric=True) == pytest.approx(0.0, abs=1e-12)
    assert add_or_adds(T_est, T_GT, PTS, symmetric=False) > 0.01


def test_correct_below_ten_percent_of_the_diameter():
    assert is_correct(0.0049, 0.05) and not is_correct(0.0051, 0.05)


def _shifted(dx):
    T = T_GT.copy()
    T[0, 3] += dx
    return T


def test_recall_over_a_small_table():
    info = ModelInfo(0.05, np.zeros(3), np.ones(3) * 0.02)   # asymmetric, threshold 5 mm
    targets = [GtTarget(1, 0, 1, T_GT), GtTarget(1, 1, 1, T_GT), GtTarget(1, 2, 1, T_GT),
               GtTarget(1, 3, 1, T_GT), GtTarget(1, 4, 1, T_GT, visib_fract=0.05)]
    estimates = [
        PoseEstimate(1, 0, 1, 0.9, _shifted(0.001)),   # correct
        PoseEstimate(1, 1, 1, 0.9, _shifted(0.010)),   # 10 mm off: wrong
        PoseEstimate(1, 2, 1, 0.9, _shifted(0.020)),   # a wrong, higher-scored estimate ...
        PoseEstimate(1, 2, 1, 0.5, _shifted(0.002)),   # ... does not hide the correct one
        # image 3: no estimate
        PoseEstimate(1, 4, 1, 0.9, _shifted(0.0)),     # target under min visibility: not counted
    ]
    report = recall(targets, estimates, {1: PTS}, {1: info}, rule=RULES['binpick'])
    assert report.total == {1: 4}
    assert report.correct == {1: 2}
    assert report.mean == pytest.approx(0.5)
    assert sorted(report.errors_m)[:2] == pytest.approx([0.001, 0.002])
    assert np.isinf(max(report.errors_m))   # image 3 had no estimate


def test_bop19_rule_scores_only_as_many_estimates_as_targets():
    info = ModelInfo(0.05, np.zeros(3), np.ones(3) * 0.02)
    targets = [GtTarget(1, 0, 1, T_GT), GtTarget(1, 1, 1, T_GT, visib_fract=0.2)]
    estimates = [PoseEstimate(1, 0, 1, 0.9, _shifted(0.020)),   # the best-scored estimate is wrong ...
                 PoseEstimate(1, 0, 1, 0.5, _shifted(0.001)),   # ... and hides this one under BOP19
                 PoseEstimate(1, 1, 1, 0.9, _shifted(0.001))]   # 20 % visible: a BOP19 target, not a binpick one
    bop19 = recall(targets, estimates, {1: PTS}, {1: info}, rule=RULES['bop19'])
    ours = recall(targets, estimates, {1: PTS}, {1: info}, rule=RULES['binpick'])
    assert (bop19.correct, bop19.total) == ({1: 1}, {1: 2})
    assert (ours.correct, ours.total) == ({1: 1}, {1: 1})


def test_recall_counts_each_target_once():
    info = ModelInfo(0.05, np.zeros(3), np.ones(3) * 0.02)
    targets = [GtTarget(1, 0, 1, T_GT)]
    estimates = [PoseEstimate(1, 0, 1, 0.9, T_GT), PoseEstimate(1, 0, 1, 0.8, T_GT)]
    report = recall(targets, estimates, {1: PTS}, {1: info})
    assert report.correct == {1: 1} and report.per_object == {1: 1.0}
