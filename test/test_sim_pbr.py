"""The physically based domain (``real_pbr``): Cycles sees the rasterizer's geometry to the pixel, a
dataset is deterministic and resumable, and a missing renderer or mesh is a one-line error."""
import dataclasses
import sys

import numpy as np
import pytest

from binpick.catalog import Catalog
from binpick.data import bop
from binpick.sim import domains
from binpick.sim.bin_physics import BinPhysics
from binpick.sim.camera import PinholeCamera
from binpick.sim.generator import CellConfig, SceneGenerator
from binpick.sim.preview import label_image
from binpick.sim.synth import SynthRequest, run

pbr = pytest.importorskip('binpick.sim.pbr_renderer')
pytest.importorskip('bpy', reason='the real_pbr domain needs bpy (make setup installs it)')

CATALOG = Catalog()
SMALL = dataclasses.replace(CellConfig.from_config(),
                            camera=PinholeCamera.from_params(154.0, 154.0, 79.5, 59.5, 160, 120))
FAST = pbr.PbrSettings(samples=2, denoise=False)


@pytest.fixture(scope='module')
def bin_of_brackets():
    obj = CATALOG.get('zigzag_bracket')
    with BinPhysics(obj, SMALL.bin, seed=5) as physics:
        physics.pack(12, 'random')
        T_world_obj = physics.poses()
    return obj, T_world_obj


def test_cycles_sees_the_rasterizers_geometry_to_the_pixel(bin_of_brackets):
    obj, T_world_obj = bin_of_brackets
    # a true K with fx != fy and an off-centre principal point, as the emulated calibration error makes it
    K = np.array([[166.0, 0.0, 83.2], [0.0, 159.0, 56.9], [0.0, 0.0, 1.0]])
    camera = PinholeCamera(K, 160, 120)
    T_world_cam = domains.camera_pose('real', np.random.default_rng(3), SMALL.camera_height_m)
    cycles = pbr.CyclesSceneRenderer(obj, SMALL.bin, FAST)
    generator = SceneGenerator(obj, 'real', SMALL)
    try:
        ids = cycles.instance_ids(T_world_obj, T_world_cam, camera)
        raster = generator.renderer.render(T_world_obj, T_world_cam, camera)
    finally:
        cycles.close()
        generator.close()
    labels = label_image(raster.masks_visib)
    parts = labels > 0
    assert parts.sum() > 500 and len(np.unique(ids)) > 8
    disagree = (ids != labels) & (parts | (ids > 0))
    assert disagree.sum() <= 0.005 * parts.sum(), f'{disagree.sum()} of {parts.sum()} part pixels differ'


def test_stereo_pair_is_path_traced_and_deterministic(bin_of_brackets):
    obj, T_world_obj = bin_of_brackets
    T_world_left = domains.camera_pose('real', np.random.default_rng(3), SMALL.camera_height_m)
    cycles = pbr.CyclesSceneRenderer(obj, SMALL.bin, FAST)
    try:
        cycles.place_lights(T_world_left, np.array([0.5, -0.3]))
        first = cycles.render(T_world_obj, T_world_left, SMALL.camera)
        again = cycles.render(T_world_obj, T_world_left, SMALL.camera)
        without_parts = cycles.render([], T_world_left, SMALL.camera)
    finally:
        cycles.close()
    assert first.shape == (120, 160, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert np.abs(first.astype(int) - without_parts).mean() > 3   # the parts are there


@pytest.mark.slow
def test_real_pbr_dataset_is_bop_with_ground_truth_apart_and_resumes(tmp_path):
    out = tmp_path / 'pbr'
    request = SynthRequest('hex_nut', 'real_pbr', 1, 1, 1, 'low', 3)
    assert run(request, out, SMALL, CATALOG, progress=False) == 2
    assert not (out / 'train' / '000000' / 'scene_gt.json').exists()   # unlabeled, as a real cell's frames
    assert (out / bop.GT_EVAL_DIR / 'train' / '000000' / 'scene_gt.json').is_file()
    frame = next(bop.BopSplit(out / 'test').frames(0, with_masks=True))
    visible = np.any(frame.masks_visib, axis=0)
    assert 5 <= len(frame.gt) <= 10 and visible.any()
    assert (frame.depth_m[visible] > 0).mean() > 0.3      # stereo depth on the path-traced pair
    assert run(request, out, SMALL, CATALOG, progress=False) == 0   # a rerun renders only what is missing


def test_missing_bpy_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, 'bpy', None)   # what `import bpy` meets where it is not installed
    with pytest.raises(pbr.RenderError, match='bpy is not importable.*make setup'):
        SceneGenerator(CATALOG.get('hex_nut'), 'real_pbr', SMALL)
    SceneGenerator(CATALOG.get('hex_nut'), 'real', SMALL).close()   # the other domains need no bpy


def test_a_mesh_cycles_cannot_load_names_the_file(tmp_path):
    obj = CATALOG.get('hex_nut')
    broken = dataclasses.replace(obj, root=tmp_path)   # its mesh file is not there
    with pytest.raises(pbr.RenderError, match=str(tmp_path)):
        pbr.CyclesSceneRenderer(broken, SMALL.bin, FAST)


@pytest.mark.slow
def test_a_scene_that_fails_to_render_is_named_and_the_finished_ones_stay(tmp_path, monkeypatch):
    out = tmp_path / 'pbr'
    request = SynthRequest('hex_nut', 'real_pbr', 2, 0, 1, 'low', 3)
    run(dataclasses.replace(request, scenes=1), out, SMALL, CATALOG, progress=False)
    finished = (out / 'train' / '000000' / 'rgb' / '000000.png').read_bytes()

    def crash(self, *args, **kwargs):
        raise pbr.RenderError('Cycles failed to render hex_nut: out of memory')
    monkeypatch.setattr(pbr.CyclesSceneRenderer, 'render', crash)
    from binpick.sim.synth import SynthError
    with pytest.raises(SynthError, match='scene train/000001.*out of memory.*rerun'):
        run(request, out, SMALL, CATALOG, progress=False)
    assert (out / 'train' / '000000' / 'rgb' / '000000.png').read_bytes() == finished
    assert not (out / 'train' / '000001').exists()
    monkeypatch.undo()
    assert run(request, out, SMALL, CATALOG, progress=False) == 1   # the rerun renders only the missing scene
