import numpy as np

from binpick.geometry import (
    axis_angle,
    close_group,
    invert,
    is_rotation,
    make_T,
    matrix_from_quat,
    quat_from_matrix,
    rotation_angle,
    transform_points,
)


def test_quaternion_round_trip_covers_all_branches():
    rng = np.random.default_rng(0)
    for angle, axis in [(0.0, (0, 0, 1)), (np.pi, (1, 0, 0)), (np.pi, (0, 1, 0)), (np.pi, (0, 0, 1))] + \
            [(rng.uniform(0, np.pi), rng.normal(size=3)) for _ in range(50)]:
        R = axis_angle(np.asarray(axis, float), angle)
        q = quat_from_matrix(R)
        assert np.isclose(np.linalg.norm(q), 1.0) and q[3] >= 0
        assert np.allclose(matrix_from_quat(q), R, atol=1e-9)


def test_axis_angle_is_a_rotation_of_that_angle():
    R = axis_angle(np.array([1.0, 2.0, 3.0]), 0.7)
    assert is_rotation(R)
    assert np.isclose(rotation_angle(R), 0.7)
    assert np.allclose(R @ np.array([1.0, 2.0, 3.0]), [1.0, 2.0, 3.0])


def test_invert_and_transform_points():
    T = make_T(axis_angle(np.array([0.0, 1.0, 0.0]), 0.3), np.array([0.1, -0.2, 0.5]))
    pts = np.random.default_rng(1).normal(size=(10, 3))
    assert np.allclose(transform_points(invert(T), transform_points(T, pts)), pts)


def test_close_group_sizes():
    rz6 = make_T(axis_angle(np.array([0.0, 0.0, 1.0]), np.pi / 3), np.zeros(3))
    flip = make_T(axis_angle(np.array([1.0, 0.0, 0.0]), np.pi), np.zeros(3))
    assert len(close_group([rz6])) == 6          # cyclic C6
    assert len(close_group([rz6, flip])) == 12   # dihedral D6
