"""The 60 rotation anchors form the icosahedral group and cover SO(3) evenly."""
import numpy as np

from binpick.geometry import axis_angle, rotation_angle
from binpick.perception.pose.anchors import icosahedral_rotations


def test_sixty_distinct_rotations_closed_under_composition():
    R = icosahedral_rotations()
    assert R.shape == (60, 3, 3)
    assert np.allclose(R[0], np.eye(3))
    flat = R.reshape(60, 9)
    assert len({tuple(np.round(r, 6)) for r in flat}) == 60
    for a in R:
        for b in R:
            products = np.abs(flat - (a @ b).reshape(1, 9)).max(axis=1)
            assert products.min() < 1e-6          # a @ b is again an anchor
        assert np.allclose(a @ a.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(a), 1.0)


def test_every_rotation_is_near_an_anchor():
    R = icosahedral_rotations()
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(300):
        Q = axis_angle(rng.normal(size=3), rng.uniform(0, np.pi))
        worst = max(worst, min(rotation_angle(Q @ a.T) for a in R))
    assert worst < np.deg2rad(45)   # the covering radius of the icosahedral group is about 38 degrees
