"""RANSAC centre voting recovers the centre from noisy unit vectors with outliers."""
import numpy as np
import pytest

from binpick.perception.pose.voting import closest_point_to_lines, vote_center


def test_lines_through_one_point():
    c = np.array([0.1, -0.05, 0.6])
    pts = np.random.default_rng(0).normal(size=(5, 3)) * 0.03 + c
    dirs = (c - pts) / np.linalg.norm(c - pts, axis=1, keepdims=True)
    assert np.allclose(closest_point_to_lines(pts, dirs), c, atol=1e-9)


def test_vote_with_noise_and_outliers():
    rng = np.random.default_rng(1)
    c = np.array([0.02, 0.03, 0.55])
    pts = c + rng.normal(size=(300, 3)) * 0.02
    v = c - pts
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    v += rng.normal(size=v.shape) * 0.02                       # noisy directions
    v[:90] = rng.normal(size=(90, 3))                          # 30 % outliers
    centre, inliers = vote_center(pts, v, rng=np.random.default_rng(2))
    assert np.linalg.norm(centre - c) < 0.002
    assert 0.4 < inliers < 0.75


def test_too_few_points():
    with pytest.raises(ValueError, match='at least 2'):
        vote_center(np.zeros((1, 3)), np.ones((1, 3)))
