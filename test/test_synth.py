"""`binpick synth`: BOP output, determinism, resume, atomic scenes, no ground truth in real train."""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from binpick.catalog import Catalog
from binpick.config import config_dir
from binpick.data import bop
from binpick.sim.camera import PinholeCamera
from binpick.sim.generator import CellConfig
from binpick.sim.synth import SynthError, SynthRequest, jobs, run, scene_done

CATALOG = Catalog()
# a 160x120 camera keeps the tests fast; the pipeline is the same at 640x480
SMALL = dataclasses.replace(CellConfig.from_config(),
                            camera=PinholeCamera.from_params(154.0, 154.0, 79.5, 59.5, 160, 120))


def _request(domain='synthetic', scenes=2, test_scenes=1, seed=3):
    return SynthRequest('hex_nut', domain, scenes, test_scenes, 2, 'low', seed)


def test_synthetic_dataset_is_bop_with_ground_truth(tmp_path):
    out = tmp_path / 'ds'
    assert run(_request(), out, SMALL, CATALOG, progress=False) == 3
    info = json.loads((out / 'dataset_info.json').read_text())
    assert info['domain'] == 'synthetic' and info['object_name'] == 'hex_nut'
    assert (out / 'models' / 'obj_000004.ply').is_file() and (out / 'models' / 'models_info.json').is_file()
    for split, n in (('train', 2), ('test', 1)):
        bsplit = bop.BopSplit(out / split)
        assert bsplit.scene_ids() == list(range(n))
        frames = list(bsplit.frames(0, with_masks=True))
        assert len(frames) == 2
        f = frames[0]
        assert f.rgb.shape == (120, 160, 3) and 5 <= len(f.gt) <= 10
        assert all(g.obj_id == 4 for g in f.gt)
        assert np.allclose(f.camera.K, SMALL.camera.K)
        visible = np.any(f.masks_visib, axis=0)
        assert visible.any() and (f.depth_m[visible] > 0).mean() > 0.9


def test_same_seed_same_bytes_and_rerun_skips(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    run(_request(scenes=1, test_scenes=0), a, SMALL, CATALOG, progress=False)
    run(_request(scenes=1, test_scenes=0), b, SMALL, CATALOG, progress=False)
    for rel in ('train/000000/rgb/000001.png', 'train/000000/depth/000000.png', 'train/000000/scene_gt.json'):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    stamp = (a / 'train/000000/scene_gt.json').stat().st_mtime_ns
    assert run(_request(scenes=2, test_scenes=0), a, SMALL, CATALOG, progress=False) == 1   # only scene 1
    assert (a / 'train/000000/scene_gt.json').stat().st_mtime_ns == stamp


def test_real_train_split_has_no_ground_truth(tmp_path):
    out = tmp_path / 'real'
    run(_request('real', scenes=1, test_scenes=1), out, SMALL, CATALOG, progress=False)
    train = out / 'train' / '000000'
    assert sorted(p.name for p in train.iterdir()) == ['depth', 'rgb', 'scene_camera.json']
    assert not list(train.rglob('*gt*')) and not (train / 'mask').exists()
    assert (out / bop.GT_EVAL_DIR / 'train' / '000000' / 'scene_gt.json').is_file()
    assert bop.BopSplit(out / 'test').has_gt(0)
    frame = next(bop.BopSplit(out / 'train').frames(0))
    assert frame.gt is None and (frame.depth_m > 0).mean() > 0.3


def test_failed_scene_leaves_no_partial_folder_and_earlier_scenes_intact(tmp_path, monkeypatch):
    out = tmp_path / 'ds'
    req = _request(scenes=1, test_scenes=0)
    run(req, out, SMALL, CATALOG, progress=False)
    before = {p: p.read_bytes() for p in (out / 'train' / '000000').rglob('*') if p.is_file()}

    def disk_full(*args, **kwargs):
        raise OSError(28, 'No space left on device', str(out / 'train' / 'x.png'))
    monkeypatch.setattr('binpick.data.atomic.write_bytes', disk_full)
    with pytest.raises(SynthError, match='No space left on device.*scene train/000001 not written'):
        run(_request(scenes=2, test_scenes=0), out, SMALL, CATALOG, progress=False)
    monkeypatch.undo()
    assert sorted(p.name for p in (out / 'train').iterdir()) == ['000000']   # no temporary left
    assert {p: p.read_bytes() for p in (out / 'train' / '000000').rglob('*') if p.is_file()} == before
    assert not scene_done(out, 'synthetic', 'train', 1)


def test_killed_run_temporaries_are_not_counted_and_get_cleaned(tmp_path):
    out = tmp_path / 'ds'
    run(_request(scenes=1, test_scenes=0), out, SMALL, CATALOG, progress=False)
    stale = out / 'train' / '.000001.tmp-999999999'
    (stale / 'rgb').mkdir(parents=True)
    assert bop.BopSplit(out / 'train').scene_ids() == [0]
    run(_request(scenes=2, test_scenes=0), out, SMALL, CATALOG, progress=False)
    assert not stale.exists() and bop.BopSplit(out / 'train').scene_ids() == [0, 1]


def test_refuses_foreign_or_different_dataset(tmp_path):
    out = tmp_path / 'ds'
    run(_request(scenes=1, test_scenes=0), out, SMALL, CATALOG, progress=False)
    with pytest.raises(SynthError, match="different dataset.*domain: 'synthetic'"):
        run(_request('real', scenes=1, test_scenes=0), out, SMALL, CATALOG, progress=False)
    foreign = tmp_path / 'photos'
    foreign.mkdir()
    (foreign / 'holiday.jpg').write_bytes(b'x')
    with pytest.raises(SynthError, match='not empty and is not a binpick dataset'):
        run(_request(), foreign, SMALL, CATALOG, progress=False)
    assert [p.name for p in foreign.iterdir()] == ['holiday.jpg']
    a_file = tmp_path / 'file'
    a_file.write_text('x')
    with pytest.raises(SynthError, match='is not a folder'):
        run(_request(), a_file, SMALL, CATALOG, progress=False)


def test_shards_partition_the_scenes():
    req = _request(scenes=5, test_scenes=2)
    parts = [jobs(req, (i, 3)) for i in range(3)]
    assert sorted(j for p in parts for j in p) == sorted(jobs(req))
    assert not set(parts[0]) & set(parts[1])


def test_two_workers_write_the_same_scenes(tmp_path):
    run(_request(scenes=2, test_scenes=0), tmp_path / 'w1', SMALL, CATALOG, progress=False)
    run(_request(scenes=2, test_scenes=0), tmp_path / 'w2', SMALL, CATALOG, workers=2, progress=False)
    for rel in ('train/000001/rgb/000000.png', 'train/000001/scene_gt.json'):
        assert (tmp_path / 'w1' / rel).read_bytes() == (tmp_path / 'w2' / rel).read_bytes()


def test_cli_errors_are_one_line(tmp_path):
    env = {**os.environ, 'BINPICK_CATALOG': str(tmp_path / 'cat')}
    cmd = [sys.executable, '-m', 'binpick.cli', 'synth']
    bad_obj = subprocess.run(cmd + ['--object', 'nope', '--out', str(tmp_path / 'o')], env=env,
                             capture_output=True, text=True)
    assert bad_obj.returncode == 1 and "no object 'nope'" in bad_obj.stderr
    bad_n = subprocess.run(cmd + ['--object', 'hex_nut', '--scenes', '0', '--out', str(tmp_path / 'o')],
                           env=env, capture_output=True, text=True)
    assert bad_n.returncode == 2 and 'positive' in bad_n.stderr
    cam = tmp_path / 'camera.yaml'
    cam.write_text((config_dir() / 'camera.yaml').read_text().replace('cx: 319.5', 'cx: 700.0'))
    bad_k = subprocess.run(cmd + ['--object', 'hex_nut', '--out', str(tmp_path / 'o'), '--camera-config', str(cam)],
                           env=env, capture_output=True, text=True)
    assert bad_k.returncode == 1 and 'does not match the image size' in bad_k.stderr
    assert not (tmp_path / 'o').exists()


@pytest.mark.slow
@pytest.mark.parametrize('domain', ['synthetic', 'real'])
@pytest.mark.parametrize('name', CATALOG.names())
def test_every_catalog_object_in_both_domains(tmp_path, name, domain):
    req = SynthRequest(name, domain, 1, 0, 1, '6', 11)
    run(req, tmp_path / 'ds', SMALL, CATALOG, progress=False)
    gt_root = tmp_path / 'ds' / (bop.GT_EVAL_DIR if domain == 'real' else '') / 'train'
    gt = bop.read_scene_gt(gt_root / '000000' / 'scene_gt.json')[0]
    assert 1 <= len(gt) <= 6 and all(g.obj_id == CATALOG.get(name).obj_id for g in gt)
    frame = next(bop.BopSplit(tmp_path / 'ds' / 'train').frames(0))
    assert frame.rgb.std() > 5 and (frame.depth_m > 0).mean() > 0.3
