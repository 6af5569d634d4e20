"""BOP dataset and results I/O: round trips in metres, errors that name file and field."""
import json

import numpy as np
import pytest

from binpick.data import atomic, bop
from binpick.data.bop_results import PoseEstimate, read_results_csv, write_results_csv
from binpick.data.errors import DataFormatError
from binpick.geometry import axis_angle, make_T

K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])


def _pose(seed):
    rng = np.random.default_rng(seed)
    return make_T(axis_angle(rng.normal(size=3), rng.uniform(0, 3)), rng.uniform(-0.1, 0.1, 3) + [0, 0, 0.7])


def _write_scene(scene_dir, n_images=2):
    cams, gts, infos = {}, {}, {}
    rng = np.random.default_rng(0)
    for im_id in range(n_images):
        rgb = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        depth = rng.uniform(0.5, 1.2, (48, 64)).astype(np.float32)
        depth[:5] = 0.0
        full = np.zeros((48, 64), bool)
        full[10:30, 10:40] = True
        visib = full.copy()
        visib[10:15] = False
        bop.write_frame_images(scene_dir, im_id, rgb, depth, masks=[full], masks_visib=[visib])
        cams[im_id] = bop.CameraView(K, bop.DEPTH_SCALE_DEFAULT, _pose(100 + im_id))
        gts[im_id] = [bop.GtPose(6, _pose(im_id))]
        infos[im_id] = [bop.gt_info_from_masks(full, visib, depth)]
    bop.write_scene_camera(scene_dir / 'scene_camera.json', cams)
    bop.write_scene_gt(scene_dir / 'scene_gt.json', gts)
    bop.write_scene_gt_info(scene_dir / 'scene_gt_info.json', infos)
    return cams, gts, infos


def test_scene_round_trip_in_metres(tmp_path):
    scene_dir = tmp_path / 'ds' / 'test' / '000003'
    cams, gts, infos = _write_scene(scene_dir)
    # millimetres on disk
    raw = json.loads((scene_dir / 'scene_gt.json').read_text())
    assert np.allclose(raw['0'][0]['cam_t_m2c'], gts[0][0].T_cam_obj[:3, 3] * 1000.0)

    split = bop.BopSplit(tmp_path / 'ds' / 'test')
    assert split.scene_ids() == [3] and split.has_gt(3)
    frames = list(split.frames(3, with_masks=True))
    assert [f.im_id for f in frames] == [0, 1]
    for f in frames:
        assert np.allclose(f.gt[0].T_cam_obj, gts[f.im_id][0].T_cam_obj, atol=1e-9)
        assert np.allclose(f.camera.T_world_cam, cams[f.im_id].T_world_cam, atol=1e-9)
        assert np.allclose(f.camera.K, K)
        assert f.rgb.shape == (48, 64, 3) and f.rgb.dtype == np.uint8
        assert f.depth_m.dtype == np.float32
        assert f.gt_info[0].px_count_visib == 20 * 30 - 5 * 30
        assert f.gt_info[0].visib_fract == pytest.approx(450 / 600)
        assert f.masks_visib[0].sum() == 450


def test_depth_png_keeps_a_tenth_of_a_millimetre(tmp_path):
    depth = np.random.default_rng(2).uniform(0.3, 2.0, (20, 30)).astype(np.float32)
    depth[0, 0] = 0.0
    bop.write_depth(tmp_path / 'd.png', depth, depth_scale=0.1)
    back = bop.read_depth(tmp_path / 'd.png', depth_scale=0.1)
    assert back[0, 0] == 0.0
    assert np.abs(back - depth).max() <= 0.00005 + 1e-7


def test_depth_out_of_range_is_refused(tmp_path):
    with pytest.raises(ValueError, match='does not fit uint16'):
        bop.write_depth(tmp_path / 'd.png', np.full((2, 2), 10.0), depth_scale=0.1)
    assert not (tmp_path / 'd.png').exists()


def test_split_without_ground_truth_reads_images_only(tmp_path):
    scene_dir = tmp_path / 'train' / '000000'
    _write_scene(scene_dir, n_images=1)
    (scene_dir / 'scene_gt.json').unlink()
    frame = next(bop.BopSplit(tmp_path / 'train').frames(0))
    assert frame.gt is None and frame.rgb.shape == (48, 64, 3)


def test_missing_field_names_file_and_field(tmp_path):
    path = tmp_path / 'scene_gt.json'
    path.write_text(json.dumps({'0': [{'obj_id': 1, 'cam_R_m2c': list(np.eye(3).ravel())}]}))
    with pytest.raises(DataFormatError) as e:
        bop.read_scene_gt(path)
    assert str(path) in str(e.value) and "'cam_t_m2c'" in str(e.value) and 'image 0[0]' in str(e.value)


def test_bad_values_are_named(tmp_path):
    path = tmp_path / 'scene_camera.json'
    path.write_text(json.dumps({'0': {'cam_K': [1, 2, 3], 'depth_scale': 0.1}}))
    with pytest.raises(DataFormatError, match=r'image 0\.cam_K: expected 9 finite numbers'):
        bop.read_scene_camera(path)
    path.write_text('{"0": {')
    with pytest.raises(DataFormatError, match='not valid JSON'):
        bop.read_scene_camera(path)


def test_results_csv_round_trip(tmp_path):
    ests = [PoseEstimate(1, 2, 6, 0.93, _pose(5), 0.12), PoseEstimate(1, 3, 6, 0.5, _pose(6))]
    path = tmp_path / 'res.csv'
    write_results_csv(path, ests)
    lines = path.read_text().splitlines()
    assert lines[0] == 'scene_id,im_id,obj_id,score,R,t,time'
    assert np.allclose([float(v) for v in lines[1].split(',')[5].split()], ests[0].T_cam_obj[:3, 3] * 1000)
    back = read_results_csv(path)
    assert [(e.scene_id, e.im_id, e.obj_id) for e in back] == [(1, 2, 6), (1, 3, 6)]
    assert np.allclose(back[0].T_cam_obj, ests[0].T_cam_obj, atol=1e-6)
    assert back[1].time_s == -1.0


def test_results_csv_row_with_eight_values_names_line(tmp_path):
    path = tmp_path / 'res.csv'
    write_results_csv(path, [PoseEstimate(1, 2, 6, 0.93, _pose(5))])
    path.write_text(path.read_text() + '1,3,6,0.5,1 0 0 0 1 0 0 0 1,0 0 700,0.1,extra\n')
    with pytest.raises(DataFormatError, match=r'res\.csv: line 3: expected 7 values .* got 8'):
        read_results_csv(path)
    path.write_text('scene_id,im_id,obj_id,score,R,t,time\n1,3,6,0.5,1 0 0 0 1 0 0 0 1,0 0,0.1\n')
    with pytest.raises(DataFormatError, match=r"line 2, column 't': expected 3"):
        read_results_csv(path)


def test_atomic_write_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / 'scene_gt.json'
    atomic.write_json(path, {'ok': 1})

    class Boom:
        pass
    with pytest.raises(TypeError):
        atomic.write_json(path, {'bad': Boom()})
    assert json.loads(path.read_text()) == {'ok': 1}
    assert [p.name for p in tmp_path.iterdir()] == ['scene_gt.json']   # no temp file left behind


def test_atomic_files_get_the_umask_mode(tmp_path):
    import os
    import stat
    path = tmp_path / 'x.json'
    atomic.write_json(path, {})
    assert stat.S_IMODE(os.stat(path).st_mode) == atomic.FILE_MODE
