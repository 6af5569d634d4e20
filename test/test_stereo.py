"""Depth from stereo on a random-dot pair with known disparity, and on a textureless pair."""
import numpy as np
import pytest

from binpick.perception.stereo import disparity_range, stereo_depth

FX, BASELINE = 600.0, 0.05


def _pair(disparity_px: int, textured: bool = True):
    rng = np.random.default_rng(0)
    h, w = 120, 200
    if textured:
        import cv2
        right = cv2.GaussianBlur(rng.integers(0, 255, (h, w + disparity_px)).astype(np.uint8), (3, 3), 0)
    else:
        right = np.full((h, w + disparity_px), 128, np.uint8)
    # a point at right column c appears at left column c + d
    left = right[:, :w].copy()
    left[:, disparity_px:] = right[:, :w - disparity_px]
    return left, right[:, :w].copy()


def test_constant_disparity_gives_the_plane_depth():
    d = 40
    left, right = _pair(d)
    depth = stereo_depth(left, right, FX, BASELINE, 0.3, 1.5)
    valid = depth > 0
    assert valid[:, 80:-10].mean() > 0.9
    assert np.median(depth[valid]) == pytest.approx(FX * BASELINE / d, rel=0.01)


def test_textureless_pair_has_no_depth():
    left, right = _pair(40, textured=False)
    assert (stereo_depth(left, right, FX, BASELINE) > 0).mean() < 0.05


def test_disparity_range_covers_the_working_range():
    d_min, n = disparity_range(FX, BASELINE, 0.3, 1.5)
    assert d_min <= FX * BASELINE / 1.5 and d_min + n >= FX * BASELINE / 0.3 and n % 16 == 0


def test_bad_inputs_are_refused():
    left, right = _pair(20)
    with pytest.raises(ValueError, match='differ in size'):
        stereo_depth(left, right[:, :-1], FX, BASELINE)
    with pytest.raises(ValueError, match='uint8'):
        stereo_depth(left.astype(np.float32), right, FX, BASELINE)
    with pytest.raises(ValueError, match='baseline'):
        stereo_depth(left, right, FX, 0.0)
