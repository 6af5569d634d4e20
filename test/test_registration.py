"""Registering a part nobody registered: views of the held part -> TSDF fusion -> a watertight model."""
import numpy as np
import pytest

from binpick.catalog import Catalog
from binpick.catalog.models_info import mesh_diameter
from binpick.cli import main
from binpick.geometry import make_T
from binpick.modelfree.registration import (
    FusionConfig,
    RegistrationError,
    View,
    chamfer_m,
    load_views,
    reconstruct,
    register_part,
    save_views,
)
from binpick.sim.held_views import held_part_views, view_rotations

CONFIG = FusionConfig(size_m=0.08, voxel_m=0.0015)


@pytest.fixture(scope='module')
def nut_views():
    return held_part_views(Catalog().get('hex_nut'), 10, domain='synthetic')


def test_view_rotations_cover_the_sphere():
    facing = np.array([R.T @ [0.0, 0.0, -1.0] for R in view_rotations(24)])   # object direction to the camera
    assert np.allclose(np.linalg.norm(facing, axis=1), 1.0)
    assert abs(facing.mean(axis=0)).max() < 0.1                                # no side left unseen
    assert all(np.isclose(np.linalg.det(R), 1.0) for R in view_rotations(24))


def test_views_of_a_held_part_give_a_watertight_model_close_to_its_cad(nut_views):
    nut = Catalog().get('hex_nut')
    mesh = reconstruct(nut_views, CONFIG)
    assert mesh.is_watertight
    assert chamfer_m(mesh, nut.mesh) < 0.002
    assert abs(mesh_diameter(np.asarray(mesh.vertices)) / nut.info.diameter_m - 1) < 0.05


def test_views_that_do_not_overlap_or_hold_no_part_are_refused(nut_views):
    moved = list(nut_views)
    v = moved[3]
    moved[3] = View(v.rgb, v.depth_m, v.mask, v.K, v.T_cam_obj @ make_T(np.eye(3), np.array([0.05, 0.0, 0.0])))
    with pytest.raises(RegistrationError, match='view 3: .*do not overlap'):
        reconstruct(moved, CONFIG)
    empty = [View(v.rgb, v.depth_m, np.zeros_like(v.mask), v.K, v.T_cam_obj)] + list(nut_views[1:])
    with pytest.raises(RegistrationError, match='view 0: 0 part pixels'):
        reconstruct(empty, CONFIG)
    with pytest.raises(RegistrationError, match='at least 2'):
        reconstruct(nut_views[:1], CONFIG)


@pytest.mark.slow
def test_register_writes_the_part_from_saved_views_and_nothing_on_bad_views(nut_views, tmp_path):
    save_views(tmp_path / 'views', nut_views)
    loaded = load_views(tmp_path / 'views')
    assert len(loaded) == len(nut_views) and np.array_equal(loaded[2].mask, nut_views[2].mask)
    assert np.abs(loaded[2].depth_m - nut_views[2].depth_m).max() <= 0.5e-4 + 1e-7     # 0.1 mm steps
    root = tmp_path / 'catalog'
    with pytest.raises(RegistrationError):
        register_part('bad_nut', loaded[:1], CONFIG, root=root, hold_trials=0)
    assert not root.exists() or not any(root.rglob('*.ply'))                         # nothing written
    assert main(['register', '--views', str(tmp_path / 'views'), '--name', 'seen_nut', '--catalog', str(root),
                 '--hold-trials', '0', '--size-mm', '80', '--voxel-mm', '1.5']) == 0
    obj = Catalog([root]).get('seen_nut')
    assert obj.info.symmetry_kind == 'none' and obj.mesh.is_watertight
    assert abs(obj.info.diameter_m / Catalog().get('hex_nut').info.diameter_m - 1) < 0.05
    assert len(obj.grasps().grasps) > 0
    with pytest.raises(RegistrationError, match='views.json'):
        load_views(tmp_path / 'nothing')
    assert main(['register', '--views', str(tmp_path / 'nothing'), '--name', 'x', '--catalog', str(root)]) == 1
