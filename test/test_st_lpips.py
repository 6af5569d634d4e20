"""The shift-tolerant LPIPS of d_image: zero on identical crops, growing with misalignment, equal to the
published module's own output, and a one-line error on missing or corrupt weights."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
import torch

from binpick.selftrain.perceptual import PerceptualDistance
from binpick.selftrain.st_lpips import STLPIPS, weights_path


def _scene(size: int = 96, seed: int = 0) -> np.ndarray:
    """A smooth, structured uint8 RGB image: a few filled shapes on a gradient."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = np.linspace(30, 120, size, dtype=np.uint8)[None, :, None]
    for _ in range(6):
        centre = tuple(int(v) for v in rng.integers(10, size - 10, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.circle(img, centre, int(rng.integers(5, 18)), colour, -1)
    return img


@pytest.fixture(scope='module')
def distance() -> PerceptualDistance:
    return PerceptualDistance('st-lpips-alex')


def test_identical_crops_score_zero_and_name_is_recorded(distance):
    crops = np.stack([_scene(64, seed) for seed in range(3)])
    assert distance.name == 'st-lpips-alex'
    np.testing.assert_allclose(distance(crops, crops), 0.0, atol=1e-7)


def test_distance_grows_as_the_render_slides_off_its_observed_twin(distance):
    img = _scene(96)
    observed = img[16:80, 16:80]
    shifts = (0, 3, 8, 16)
    rendered = np.stack([img[16:80, 16 + s:80 + s] for s in shifts])
    d = distance(rendered, np.stack([observed] * len(shifts)))
    assert d[0] < 1e-7
    assert np.all(np.diff(d) > 0), d


def test_matches_the_published_module_on_fixed_inputs():
    from stlpips_pytorch import stlpips
    upstream = stlpips.LPIPS(net='alex', variant='shift_tolerant', verbose=False).eval()
    ours = STLPIPS()
    g = torch.Generator().manual_seed(7)
    a = torch.rand(3, 3, 64, 64, generator=g)
    b = (a + 0.3 * torch.rand(3, 3, 64, 64, generator=g)).clamp(0, 1)
    with torch.no_grad():
        expected = upstream(a * 2 - 1, b * 2 - 1).flatten()
        got = ours(a, b)
    assert torch.all(expected > 0)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)


def test_missing_or_corrupt_weights_name_the_file(tmp_path):
    missing = tmp_path / 'alex_shift_tolerant.pth'
    with pytest.raises(FileNotFoundError, match='alex_shift_tolerant.pth'):
        STLPIPS(missing)
    missing.write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match=f'{missing}: not the ST-LPIPS AlexNet weights'):
        STLPIPS(missing)
    truncated = tmp_path / 'truncated.pth'
    shutil.copy(weights_path(), truncated)
    state = torch.load(truncated, map_location='cpu', weights_only=True)
    del state['lin4.model.1.weight']
    torch.save(state, truncated)
    with pytest.raises(ValueError, match='truncated.pth'):
        STLPIPS(truncated)


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown perceptual backend 'lpips-vgg'"):
        PerceptualDistance('lpips-vgg')
