"""A settled bin rendered whole: ground truth consistent with rendering each instance alone."""
import numpy as np
import pytest

from binpick.catalog import Catalog
from binpick.sim.bin_physics import BinPhysics, BinSpec
from binpick.sim.camera import PinholeCamera, look_at
from binpick.sim.object_renderer import ObjectRenderer
from binpick.sim.scene_renderer import SceneRenderer

CAMERA = PinholeCamera.from_params(615.0, 615.0, 319.5, 239.5, 640, 480)
T_WORLD_CAM = look_at(np.array([0.02, -0.03, 0.55]), np.array([0.0, 0.0, 0.0]))


@pytest.fixture(scope='module', params=['connector_block', 'zigzag_bracket'])
def scene(request):
    obj = Catalog().get(request.param)
    with BinPhysics(obj, BinSpec(), seed=7) as physics:
        physics.drop(12)
        T_world_obj = physics.poses()
    with SceneRenderer(obj) as renderer:
        image = renderer.render(T_world_obj, T_WORLD_CAM, CAMERA)
    return obj, T_world_obj, image


def test_parts_settle_inside_the_bin(scene):
    obj, T_world_obj, _ = scene
    L, W, H = BinSpec().inner_size_m
    assert 8 <= len(T_world_obj) <= 12
    for T in T_world_obj:
        assert abs(T[0, 3]) < L / 2 and abs(T[1, 3]) < W / 2 and 0.0 < T[2, 3] < H


def test_image_types_and_ground_truth(scene):
    _, T_world_obj, image = scene
    assert image.rgb.shape == (480, 640, 3) and image.rgb.dtype == np.uint8
    assert image.depth_m.dtype == np.float32 and 0.3 < np.median(image.depth_m) < 0.7
    assert len(image.T_cam_obj) == len(image.masks) == len(image.masks_visib) == len(T_world_obj)
    for m, v, f in zip(image.masks, image.masks_visib, image.visib_fract):
        assert (v <= m).all() and 0.0 <= f <= 1.0
    # visible masks of different instances never overlap
    assert (np.sum(image.masks_visib, axis=0) <= 1).all()


def test_rendering_an_instance_alone_reproduces_its_mask_and_depth(scene):
    obj, _, image = scene
    inter = union = 0
    with ObjectRenderer(obj.mesh) as renderer:
        for T, full, visib in zip(image.T_cam_obj, image.masks, image.masks_visib):
            alone = renderer.render(T, CAMERA)
            inter += (alone.mask & full).sum()
            union += (alone.mask | full).sum()
            both = visib & alone.mask
            if both.sum() > 20:
                assert np.median(np.abs(alone.depth_m[both] - image.depth_m[both])) < 0.001
    assert inter / union >= 0.95


def test_drop_refuses_non_positive_counts():
    with BinPhysics(Catalog().get('hex_nut')) as physics, pytest.raises(ValueError, match='positive'):
        physics.drop(0)


def test_parts_that_fall_out_of_the_bin_are_removed():
    tiny = BinSpec(inner_size_m=(0.07, 0.07, 0.02))
    with BinPhysics(Catalog().get('hex_nut'), tiny, seed=1) as physics:
        physics.drop(12)
        poses = physics.poses()
    assert 0 < len(poses) < 12
    for T in poses:
        assert abs(T[0, 3]) < 0.035 and abs(T[1, 3]) < 0.035
