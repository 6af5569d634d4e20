"""Preparing one instance for the pose network: back-projection, crop coordinates, skips."""
import numpy as np
import pytest

from binpick.perception.pose.inputs import MIN_POINTS, SkipInstance, prepare_instance

K = np.array([[500.0, 0, 80], [0, 500.0, 60], [0, 0, 1]])


def _scene():
    rgb = np.zeros((120, 160, 3), np.uint8)
    rgb[40:60, 70:100] = (255, 0, 0)
    depth = np.zeros((120, 160), np.float32)
    depth[40:60, 70:100] = 0.5
    mask = depth > 0
    return rgb, depth, mask


def test_points_are_back_projected_and_centred():
    rgb, depth, mask = _scene()
    x = prepare_instance(rgb, depth, K, mask, n_points=100, crop_px=32)
    assert x.points.shape == (100, 3) and np.allclose(x.points.mean(axis=0), 0, atol=1e-6)
    assert np.allclose(x.observed[:, 2], 0.5)
    u = x.observed[:, 0] / 0.5 * 500 + 80
    assert u.min() >= 70 - 1e-6 and u.max() <= 99 + 1e-6
    assert np.allclose(x.point_rgb, [1, 0, 0])
    assert np.abs(x.point_uv).max() <= 1.0 and x.crop.shape == (3, 32, 32)


def test_skips_with_reasons():
    rgb, depth, mask = _scene()
    holes = depth.copy()
    holes[mask] = np.nan
    with pytest.raises(SkipInstance, match='valid depth'):
        prepare_instance(rgb, holes, K, mask)
    tiny = np.zeros_like(mask)
    tiny[45:47, 70:70 + (MIN_POINTS - 1) // 2] = True   # 30 pixels with depth
    with pytest.raises(SkipInstance, match=rf'only 30 mask pixels with valid depth \(need {MIN_POINTS}\)'):
        prepare_instance(rgb, depth, K, tiny)
    with pytest.raises(SkipInstance, match='do not match'):
        prepare_instance(rgb, depth, K, mask[:-1])
