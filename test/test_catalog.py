"""The object catalog: built-in parts, models_info, grasp sets, and `binpick catalog add`."""
import subprocess
import sys

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from binpick.catalog import Catalog, CatalogError
from binpick.catalog.catalog import BUILTIN_DIR, add_object, parse_symmetry
from binpick.catalog.models_info import compute_model_info, read_models_info
from binpick.geometry import raycasting_scene, transform_points
from binpick.grasp.antipodal import gripper_points

BUILTIN = Catalog([BUILTIN_DIR])


def test_at_least_six_builtin_parts_of_every_kind():
    assert len(BUILTIN) >= 6
    kinds = {o.kind for o in BUILTIN}
    assert {'continuous-symmetric', 'discrete-symmetric', 'asymmetric'} <= kinds


@pytest.mark.parametrize('name', BUILTIN.names())
def test_builtin_part_is_watertight_sized_and_info_matches_mesh(name):
    obj = BUILTIN.get(name)
    mesh = obj.mesh
    assert mesh.is_watertight and mesh.volume > 0
    assert 0.03 <= obj.info.diameter_m <= 0.11
    recomputed = compute_model_info(mesh.vertices)
    assert obj.info.diameter_m == pytest.approx(recomputed.diameter_m, abs=1e-6)
    assert np.allclose(obj.info.size_xyz_m, recomputed.size_xyz_m, atol=1e-6)
    assert obj.info.is_symmetric == (obj.kind != 'asymmetric')


@pytest.mark.parametrize('name', BUILTIN.names())
def test_declared_symmetries_map_the_surface_onto_itself(name):
    obj = BUILTIN.get(name)
    pts = obj.sample_points(2000)
    tree = cKDTree(pts)
    for S in obj.info.symmetries_discrete:
        dist, _ = tree.query(transform_points(S, pts))
        assert np.percentile(dist, 95) < 0.002
    # an asymmetric part must not be mapped onto itself by a half turn about any axis
    if not obj.info.is_symmetric:
        from binpick.geometry import axis_angle, make_T
        for axis in np.eye(3):
            dist, _ = tree.query(transform_points(make_T(axis_angle(axis, np.pi), np.zeros(3)), pts))
            assert np.percentile(dist, 95) > 0.003


@pytest.mark.parametrize('name', BUILTIN.names())
def test_grasps_fit_the_hand_and_do_not_penetrate(name):
    obj = BUILTIN.get(name)
    grasp_set = obj.grasps()
    assert grasp_set.object_name == name and len(grasp_set.grasps) >= 16
    scene = raycasting_scene(obj.mesh.vertices, obj.mesh.faces)
    for g in grasp_set.grasps[:16]:
        assert 0 < g.width <= grasp_set.gripper.max_width
        assert np.isclose(np.linalg.det(g.T_obj_grasp[:3, :3]), 1.0, atol=1e-5)
        fingers = gripper_points(grasp_set.gripper, min(g.width + 0.01, grasp_set.gripper.max_width))
        occupied = scene.compute_occupancy(transform_points(g.T_obj_grasp, fingers).astype(np.float32))
        assert not occupied.numpy().any()
        # both finger contacts lie on the surface, on either side of the TCP along the closing axis
        contacts = g.T_obj_grasp[:3, 3] + np.outer([-g.width / 2, g.width / 2], g.T_obj_grasp[:3, 1])
        assert scene.compute_distance(contacts.astype(np.float32)).numpy().max() < 0.0005


def test_models_info_file_is_bop_millimetres():
    infos = read_models_info(BUILTIN_DIR / 'models' / 'models_info.json')
    import json
    raw = json.loads((BUILTIN_DIR / 'models' / 'models_info.json').read_text())
    for obj_id, info in infos.items():
        assert raw[str(obj_id)]['diameter'] == pytest.approx(info.diameter_m * 1000.0)


def test_parse_symmetry_specs():
    discrete, continuous = parse_symmetry(['discrete:z:6', 'flip:x'])
    assert len(discrete) == 11 and continuous == []
    discrete, continuous = parse_symmetry(['continuous:z', 'flip:x'])
    assert len(discrete) == 1 and np.allclose(continuous[0].axis, [0, 0, 1])
    with pytest.raises(CatalogError, match='discrete:AXIS:N'):
        parse_symmetry(['discrete:w:6'])


def _box_file(tmp_path, size_mm=(40.0, 30.0, 20.0), name='box.stl'):
    path = tmp_path / name
    trimesh.creation.box(extents=size_mm).export(path)
    return path


@pytest.mark.slow
def test_add_user_object(tmp_path):
    root = tmp_path / 'catalog'
    obj = add_object('block_a', _box_file(tmp_path), 'mm', ['discrete:z:2', 'flip:x'], root=root,
                     grasp_samples=20, hold_trials=1)
    assert obj.obj_id >= 101 and obj.kind == 'discrete-symmetric'
    assert obj.info.diameter_m == pytest.approx(np.linalg.norm([0.04, 0.03, 0.02]), rel=1e-6)
    catalog = Catalog([BUILTIN_DIR, root])
    assert 'block_a' in catalog and len(catalog) == len(BUILTIN) + 1
    assert catalog.get('block_a').mesh.is_watertight
    grasps = catalog.get('block_a').grasps().grasps
    assert len(grasps) > 0 and all(g.hold == 1.0 for g in grasps)   # one trial each: held, or dropped
    with pytest.raises(CatalogError, match='exists already'):
        add_object('block_a', _box_file(tmp_path), 'mm', [], root=root)


def test_add_refuses_bad_meshes_and_writes_nothing(tmp_path):
    root = tmp_path / 'catalog'
    add_object('good', _box_file(tmp_path), 'mm', [], root=root, grasp_samples=100, hold_trials=0)
    before = {p: p.read_bytes() for p in root.rglob('*') if p.is_file()}

    open_mesh = trimesh.creation.box(extents=(40.0, 30.0, 20.0))
    open_mesh.update_faces(np.arange(len(open_mesh.faces)) != 0)
    open_mesh.export(tmp_path / 'open.stl')
    (tmp_path / 'empty.obj').write_text('# nothing\n')
    with pytest.raises(CatalogError, match='not watertight'):
        add_object('open', tmp_path / 'open.stl', 'mm', [], root=root)
    with pytest.raises(CatalogError, match='empty|no triangle mesh|cannot read'):
        add_object('empty', tmp_path / 'empty.obj', 'mm', [], root=root)
    with pytest.raises(CatalogError, match='use --units mm'):
        add_object('wrong_units', _box_file(tmp_path), 'm', [], root=root)
    with pytest.raises(CatalogError, match='not continuous-symmetric'):
        add_object('not_round', _box_file(tmp_path), 'mm', ['continuous:z'], root=root)

    after = {p: p.read_bytes() for p in root.rglob('*') if p.is_file()}
    assert after == before


def test_cli_catalog_list_and_add_errors(tmp_path):
    env = {'BINPICK_CATALOG': str(tmp_path / 'cat'), 'PATH': '/usr/bin:/bin'}
    out = subprocess.run([sys.executable, '-m', 'binpick.cli', 'catalog', 'list'], env=env,
                         capture_output=True, text=True, check=True).stdout
    for name in BUILTIN.names():
        assert name in out
    assert 'mm' in out and 'asymmetric' in out
    bad = subprocess.run([sys.executable, '-m', 'binpick.cli', 'catalog', 'add', 'x',
                          str(tmp_path / 'missing.stl'), '--units', 'mm'], env=env,
                         capture_output=True, text=True)
    assert bad.returncode != 0 and 'missing.stl: file does not exist' in bad.stderr


def test_unknown_object_is_a_clear_error(tmp_path):
    with pytest.raises(CatalogError, match="no object 'flux_capacitor'.*known: tube_fitting"):
        BUILTIN.get('flux_capacitor')
    out = subprocess.run([sys.executable, '-m', 'binpick.cli', 'catalog', 'show', 'flux_capacitor'],
                         env={'BINPICK_CATALOG': str(tmp_path), 'PATH': '/usr/bin:/bin'},
                         capture_output=True, text=True)
    assert out.returncode == 1 and "no object 'flux_capacitor'" in out.stderr
