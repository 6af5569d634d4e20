"""Pieces of the segmentation pipeline on hand-made data: copy-paste, targets, mask AP, checkpoints."""
import numpy as np
import pytest
import torch

from binpick.catalog import Catalog
from binpick.evaluation.mask_ap import MaskSet, mask_ap
from binpick.perception import checkpoint
from binpick.perception.seg_data import SegSample, augment, copy_paste, to_tensors
from binpick.perception.segmentation import Segmenter, check_image


def _square(h, w, y0, x0, size):
    m = np.zeros((h, w), bool)
    m[y0:y0 + size, x0:x0 + size] = True
    return m


def test_copy_paste_occludes_and_appends():
    target = SegSample(np.zeros((40, 40, 3), np.uint8), np.array([_square(40, 40, 0, 0, 10),
                                                                 _square(40, 40, 20, 20, 10)]), np.array([1, 1]))
    source = SegSample(np.full((40, 40, 3), 200, np.uint8), np.array([_square(40, 40, 0, 0, 10)]), np.array([2]))
    rng = np.random.default_rng(0)
    for _ in range(20):  # until the random choice pastes the instance without flipping it
        out = copy_paste(target, source, rng, min_visible_px=5)
        if len(out.labels) == 2 and out.rgb[0, 0, 0] == 200:
            break
    # the pasted square covers the first target instance completely: it is dropped
    assert out.labels.tolist() == [1, 2]
    assert out.masks[0].sum() == 100 and out.masks[0][25, 25]          # the untouched instance
    assert out.masks[1][0:10, 0:10].all() and (out.rgb[0:10, 0:10] == 200).all()
    assert (out.rgb[20:30, 20:30] == 0).all()


def test_depth_travels_with_the_pixels_it_belongs_to():
    from binpick.perception.seg_model import RELIEF_SCALE_M, depth_relief
    depth_m = np.full((40, 40), 0.50, np.float32)
    depth_m[0:10, 0:10] = 0.48                                         # a part 2 cm above the rest
    depth_m[39, 39] = 0.0                                              # no depth
    relief = depth_relief(depth_m)
    assert relief[5, 5] == pytest.approx(0.02 / RELIEF_SCALE_M) and relief[30, 30] == 0.0 and relief[39, 39] == 0.0
    assert depth_relief(np.zeros((4, 4))).tolist() == np.zeros((4, 4)).tolist()
    target = SegSample(np.zeros((40, 40, 3), np.uint8), np.array([_square(40, 40, 20, 20, 10)]), np.array([1]),
                       depth_m=np.full((40, 40), 0.6, np.float32))
    source = SegSample(np.full((40, 40, 3), 200, np.uint8), np.array([_square(40, 40, 0, 0, 10)]), np.array([1]),
                       depth_m=depth_m)
    rng = np.random.default_rng(0)
    for _ in range(40):                          # pasted, flipped or not: the depth comes with the RGB
        out = augment(copy_paste(target, source, rng, min_visible_px=5), rng)
        assert np.all(out.depth_m[out.masks[-1]] == (0.48 if len(out.labels) == 2 else 0.6))
        assert np.all(out.depth_m[~out.masks.any(axis=0)] == 0.6)
    image, _ = to_tensors(out)
    assert image.shape == (4, 40, 40) and torch.equal(image[3], torch.from_numpy(depth_relief(out.depth_m)))


def test_targets_have_boxes_around_masks():
    sample = SegSample(np.zeros((30, 50, 3), np.uint8), np.array([_square(30, 50, 5, 7, 4)]), np.array([1]))
    image, target = to_tensors(sample)
    assert image.shape == (3, 30, 50) and image.dtype == torch.float32
    assert target['boxes'].tolist() == [[7.0, 5.0, 11.0, 9.0]]
    assert target['masks'].dtype == torch.uint8 and int(target['masks'].sum()) == 16


def test_mask_ap_perfect_none_and_ignored():
    gt = [MaskSet(1, [_square(40, 40, 0, 0, 10), _square(40, 40, 20, 20, 10)], [1, 1]),
          MaskSet(2, [_square(40, 40, 5, 5, 8)], [1], ignore=[True])]
    perfect = [MaskSet(1, gt[0].masks, [1, 1], scores=[0.9, 0.8]), MaskSet(2, [], [], scores=[])]
    assert mask_ap(gt, perfect, 1)['AP'] == pytest.approx(1.0)
    assert mask_ap(gt, [MaskSet(1, [], [], scores=[])], 1)['AP50'] == 0.0
    half = [MaskSet(1, [gt[0].masks[0]], [1], scores=[0.9])]
    assert mask_ap(gt, half, 1)['AP50'] == pytest.approx(0.5, abs=0.02)
    # a detection of the ignored instance is neither a hit nor a false positive
    with_ignored = perfect[:1] + [MaskSet(2, gt[1].masks, [1], scores=[0.95])]
    assert mask_ap(gt, with_ignored, 1)['AP'] == pytest.approx(1.0)


def test_checkpoint_errors(tmp_path):
    good = tmp_path / 'good.pt'
    checkpoint.save(good, 'segmentation', {'objects': {'hex_nut': 'abc'}, 'model': {'w': torch.ones(2)}})
    assert checkpoint.load(good, 'segmentation', {'hex_nut': 'abc'})['model']['w'].sum() == 2
    with pytest.raises(checkpoint.CheckpointError, match='expected a pose checkpoint'):
        checkpoint.load(good, 'pose')
    with pytest.raises(checkpoint.CheckpointError, match=r"trained for objects \['hex_nut'\]"):
        checkpoint.load(good, 'segmentation', {'spur_gear': 'abc'})
    with pytest.raises(checkpoint.CheckpointError, match='CAD of hex_nut changed'):
        checkpoint.load(good, 'segmentation', {'hex_nut': 'def'})
    truncated = tmp_path / 'truncated.pt'
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(checkpoint.CheckpointError, match='not a readable checkpoint'):
        checkpoint.load(truncated, 'segmentation')
    with pytest.raises(checkpoint.CheckpointError, match='does not exist'):
        checkpoint.load(tmp_path / 'missing.pt', 'segmentation')
    with pytest.raises(checkpoint.CheckpointError, match='not a readable checkpoint|expected a segmentation'):
        Segmenter.load(truncated, Catalog())


@pytest.mark.parametrize('bad', [np.zeros((48, 64), np.uint8), np.zeros((48, 64, 3), np.float32),
                                 np.zeros((0, 0, 3), np.uint8), np.zeros((48, 64, 4), np.uint8)])
def test_bad_images_are_refused(bad):
    with pytest.raises(ValueError, match='uint8 RGB|too small'):
        check_image(bad)
