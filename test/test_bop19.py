"""BOP19 files and evaluation, cross-checked with the BOP toolkit itself where it is installed."""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from binpick.catalog import Catalog
from binpick.data import bop
from binpick.data.bop_results import PoseEstimate, read_results_csv, write_results_csv
from binpick.evaluation.recall import GtTarget, recall
from binpick.evaluation.rules import RULES
from binpick.geometry import axis_angle, is_rotation, make_T
from binpick.perception import checkpoint
from binpick.perception.pose.estimator import PoseEstimator
from binpick.perception.pose.network import PoseNet, PoseNetConfig
from binpick.sim import domains
from binpick.sim.camera import PinholeCamera
from binpick.sim.generator import CellConfig
from binpick.sim.synth import CAMERA_DIR, TARGETS_FILE, SynthRequest, run

CATALOG = Catalog()
SHIPPED_POSE = Path(__file__).resolve().parent.parent / 'models' / 'demo' / 'zigzag_bracket_pose_lb.pt'
SMALL = dataclasses.replace(CellConfig.from_config(),
                            camera=PinholeCamera.from_params(154.0, 154.0, 79.5, 59.5, 160, 120))


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp('bop19') / 'ds'
    run(SynthRequest('zigzag_bracket', 'real', 1, 2, 2, 'full', 5), out, SMALL, CATALOG, progress=False)
    return out


def _estimates_near_gt(dataset, rng):
    """One estimate per ground-truth instance of the test split, some correct and some not."""
    split = bop.BopSplit(dataset / 'test')
    estimates, targets = [], []
    for s in split.scene_ids():
        for f in split.frames(s):
            for g, info in zip(f.gt, f.gt_info):
                targets.append(GtTarget(s, f.im_id, g.obj_id, g.T_cam_obj, info.visib_fract))
                T = g.T_cam_obj @ make_T(axis_angle(rng.normal(size=3), rng.uniform(0, 0.3)), rng.normal(0, 0.004, 3))
                estimates.append(PoseEstimate(s, f.im_id, g.obj_id, float(rng.uniform()), T, 0.25))
    return targets, estimates


def test_models_eval_and_targets_are_written(dataset):
    obj = CATALOG.get('zigzag_bracket')
    infos = json.loads((dataset / 'models_eval' / 'models_info.json').read_text())
    assert infos == json.loads((dataset / 'models' / 'models_info.json').read_text())
    import trimesh
    dense = trimesh.load(dataset / 'models_eval' / f'obj_{obj.obj_id:06d}.ply', force='mesh', process=False)
    assert len(dense.vertices) > 20 * len(obj.mesh.vertices)
    assert np.allclose(dense.vertices[:len(obj.mesh.vertices)], 1000 * obj.mesh.vertices)
    # spread evenly: their centroid is the surface's (the CAD vertices alone are far from it)
    assert np.linalg.norm(dense.vertices.mean(0) - 1000 * obj.mesh.triangles_center.T @ obj.mesh.area_faces
                          / obj.mesh.area) < 0.01 * 1000 * obj.info.diameter_m
    targets = json.loads((dataset / TARGETS_FILE).read_text())
    split = bop.BopSplit(dataset / 'test')
    expected = sum(info.visib_fract >= 0.1 for s in split.scene_ids() for f in split.frames(s) for info in f.gt_info)
    assert sum(t['inst_count'] for t in targets) == expected > 0
    images = {(s, i) for s in split.scene_ids() for i in split.image_ids(s)}
    assert {(t['scene_id'], t['im_id']) for t in targets} <= images


def test_true_intrinsics_are_kept_apart_for_evaluation(dataset):
    nominal = bop.read_scene_camera(dataset / 'test' / '000000' / 'scene_camera.json')[0].K
    true = bop.read_scene_camera(dataset / CAMERA_DIR / 'test' / '000000' / 'scene_camera.json')[0].K
    assert np.allclose(nominal, SMALL.camera.K)
    assert np.allclose(true, domains.cell_calibration(5).true_K(SMALL.camera.K))
    assert not np.allclose(true, nominal)
    assert (dataset / CAMERA_DIR / 'train' / '000000' / 'scene_camera.json').is_file()


def test_results_csv_reads_back_in_binpick_and_the_bop_toolkit(dataset, tmp_path):
    targets, estimates = _estimates_near_gt(dataset, np.random.default_rng(0))
    # single-precision rotations, as a network returns them: not orthonormal to 1e-4
    for e in estimates:
        e.T_cam_obj[:3, :3] = (e.T_cam_obj[:3, :3] + 3e-4).astype(np.float32)
    path = tmp_path / 'res.csv'
    write_results_csv(path, estimates)
    back = read_results_csv(path)
    assert len(back) == len(estimates) and all(b.time_s == 0.25 for b in back)
    bop_toolkit = pytest.importorskip('bop_toolkit_lib.inout')
    assert bop_toolkit.check_bop_results(str(path))[0]
    assert len(bop_toolkit.load_bop_results(str(path))) == len(estimates)


def test_bop_toolkit_recall_on_models_eval_matches_ours(dataset, tmp_path):
    """ADD with the toolkit on models_eval vertices and the toolkit's BOP19 targets, against
    binpick's recall: the same instances are counted correct."""
    inout = pytest.importorskip('bop_toolkit_lib.inout')
    pose_error = pytest.importorskip('bop_toolkit_lib.pose_error')
    obj = CATALOG.get('zigzag_bracket')
    targets, estimates = _estimates_near_gt(dataset, np.random.default_rng(1))
    path = tmp_path / 'res.csv'
    write_results_csv(path, estimates)
    pts_mm = inout.load_ply(str(dataset / 'models_eval' / f'obj_{obj.obj_id:06d}.ply'))['pts']
    diameter_mm = json.loads((dataset / 'models_eval' / 'models_info.json').read_text())[str(obj.obj_id)]['diameter']
    bop_targets = inout.load_json(str(dataset / TARGETS_FILE))
    results = inout.load_bop_results(str(path))
    split = bop.BopSplit(dataset / 'test')
    n_correct = n_targets = 0
    for t in bop_targets:   # one estimate per instance, so matching is by order within the image
        frame = split.frame(t['scene_id'], t['im_id'])
        gts = list(zip(frame.gt, frame.gt_info))
        ests = [r for r in results if (r['scene_id'], r['im_id']) == (t['scene_id'], t['im_id'])]
        for (g, info), r in zip(gts, ests):
            if info.visib_fract >= 0.1:
                n_targets += 1
                e = pose_error.add(r['R'], r['t'], g.T_cam_obj[:3, :3], g.T_cam_obj[:3, 3:] * 1000.0, pts_mm)
                n_correct += e < 0.1 * diameter_mm
    ours = recall(targets, read_results_csv(path), {obj.obj_id: obj.sample_points(2000)}, {obj.obj_id: obj.info},
                  rule=RULES['bop19'])
    assert n_targets == ours.total[obj.obj_id]
    assert 0 < n_correct < n_targets
    assert abs(ours.correct[obj.obj_id] - n_correct) <= max(1, 0.03 * n_targets)   # sampled surface vs vertices


def test_stripped_checkpoint_rotations_are_orthonormal(tmp_path):
    net = PoseNet(PoseNetConfig('zigzag_bracket', n_points=64, crop_px=32, point_dim=32, global_dim=64),
                  pretrained_backbone=False)
    assert 'anchors' not in net.state_dict()
    from binpick.perception.pose.estimator import save
    save(tmp_path / 'full.pt', net, CATALOG)
    checkpoint.strip(tmp_path / 'full.pt', tmp_path / 'stripped.pt', 'pose')
    loaded = PoseEstimator.load(tmp_path / 'stripped.pt', CATALOG, inference='net').net
    assert loaded.anchors.dtype == torch.float32
    torch.manual_seed(0)
    with torch.no_grad():
        out = loaded(torch.randn(2, 3, 32, 32), torch.randn(2, 64, 3) * 0.01, torch.rand(2, 64, 3),
                     torch.rand(2, 64, 2) * 2 - 1)
    assert all(is_rotation(R.double().numpy(), atol=1e-5) for R in out['R'].reshape(-1, 3, 3))


def test_checkpoints_with_stored_anchors_still_load():
    net = PoseEstimator.load(SHIPPED_POSE, CATALOG, inference='net').net
    assert is_rotation(net.anchors[7].double().numpy(), atol=1e-6)

