"""Pose network end to end at a tiny size: labels from BOP, train, checkpoint, estimate, ADD(-S) recall."""

import numpy as np
import pytest
from conftest import small_synth_dataset

from binpick.catalog import Catalog
from binpick.data.bop import BopSplit
from binpick.evaluation.pose_eval import evaluate_pose
from binpick.perception import checkpoint
from binpick.perception.pose.estimator import PoseEstimator
from binpick.perception.pose.labels import labels_from_bop
from binpick.perception.pose.network import PoseNetConfig
from binpick.perception.pose.train import PoseTrainConfig, train_pose

CATALOG = Catalog()
OBJ = CATALOG.get('connector_block')
CONFIG = PoseNetConfig('connector_block', n_points=64, crop_px=32, point_dim=32, global_dim=64)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    return small_synth_dataset(tmp_path_factory.mktemp('pose') / 'ds', 'connector_block', width=240, seed=8)


@pytest.fixture(scope='module')
def trained(dataset, tmp_path_factory):
    ckpt = tmp_path_factory.mktemp('ck') / 'pose.pt'
    labels = labels_from_bop(dataset / 'train', OBJ.obj_id)
    logs = []
    state = train_pose(labels, ckpt, 'connector_block', CATALOG, CONFIG, PoseTrainConfig(epochs=2, batch_size=8),
                       progress=False, log=logs.append)
    return ckpt, labels, state


def test_labels_come_from_ground_truth(trained, dataset):
    _, labels, _ = trained
    assert labels and all(label.mask_path.is_file() for label in labels)
    assert all(abs(np.linalg.det(label.T_cam_obj[:3, :3]) - 1) < 1e-6 for label in labels)


def test_training_lowers_the_loss_and_writes_a_checkpoint(trained):
    ckpt, _, state = trained
    assert state.epoch == 2 and np.isfinite(state.history[-1]['loss'])
    assert state.history[-1]['loss'] < state.history[0]['loss']
    raw = checkpoint.load(ckpt, 'pose', {'connector_block': OBJ.fingerprint})
    assert raw['config']['object_name'] == 'connector_block'


def test_estimate_and_evaluate(trained, dataset):
    ckpt, _, _ = trained
    estimator = PoseEstimator.load(ckpt, CATALOG, 'connector_block')
    ev = evaluate_pose(estimator, dataset / 'test', OBJ)
    assert sum(ev.report.total.values()) > 0
    assert ev.estimates and all(np.isclose(np.linalg.det(e.T_cam_obj[:3, :3]), 1.0) for e in ev.estimates)
    assert 0.0 <= ev.report.mean <= 1.0 and ev.ms_per_instance > 0


def test_skips_instances_without_depth_and_refuses_other_objects(trained, dataset):
    ckpt, _, _ = trained
    estimator = PoseEstimator.load(ckpt, CATALOG)
    frame = next(BopSplit(dataset / 'test').frames(0, with_masks=True))
    depth = frame.depth_m.copy()
    depth[frame.masks_visib[0]] = np.nan
    results = estimator.estimate(frame.rgb, depth, frame.camera.K, [frame.masks_visib[0], frame.masks_visib[1]])
    assert results[0].T_cam_obj is None and 'valid depth' in results[0].skipped
    assert results[1].T_cam_obj is not None
    with pytest.raises(checkpoint.CheckpointError, match="for 'connector_block', not 'hex_nut'"):
        PoseEstimator.load(ckpt, CATALOG, 'hex_nut')


def test_icp_refinement_recovers_a_perturbed_pose(dataset):
    from binpick.geometry import axis_angle
    from binpick.perception.pose.refine import PoseRefiner
    from binpick.selftrain.scores import observed_points
    frame = BopSplit(dataset / 'test').frame(0, 0, with_masks=True)
    k = int(np.argmax([m.sum() for m in frame.masks_visib]))
    T_true = frame.gt[k].T_cam_obj
    observed = observed_points(frame.depth_m, frame.camera.K, frame.masks_visib[k], 800, np.random.default_rng(0))
    T_off = T_true.copy()
    T_off[:3, :3] = T_true[:3, :3] @ axis_angle(np.array([0.3, 1.0, 0.0]), np.deg2rad(8))
    T_off[:3, 3] += [0.004, -0.003, 0.002]
    pts = OBJ.sample_points(1000)
    err = lambda T: np.linalg.norm((pts @ T[:3, :3].T + T[:3, 3]) - (pts @ T_true[:3, :3].T + T_true[:3, 3]),  # noqa: E731
                                   axis=1).mean()
    refined = PoseRefiner(OBJ).refine(T_off, observed)
    assert not refined.fell_back and err(refined.T_cam_obj) < 0.5 * err(T_off)


def test_hypotheses_are_the_most_certain_distinct_ones():
    from binpick.geometry import axis_angle, make_T
    from binpick.perception.pose.refine import PoseRefiner
    refiner = PoseRefiner(OBJ)
    T = make_T(np.eye(3), np.array([0.0, 0.0, 0.5]))
    near = make_T(axis_angle(np.array([0.0, 0.0, 1.0]), np.deg2rad(1)), T[:3, 3])    # the same pose, nearly
    far = [make_T(axis_angle(np.array([1.0, 0.0, 0.0]), np.deg2rad(a)), T[:3, 3]) for a in (60, 120, 180)]
    hypotheses = [T, near, near, far[0], near, far[1], far[2]]
    assert refiner.distinct(hypotheses) == [0, 3, 5, 6]
    assert refiner.distinct(hypotheses, limit=2) == [0, 3]       # the limit counts distinct ones only


def test_the_best_fit_wins_and_the_most_certain_breaks_a_tie():
    from binpick.geometry import axis_angle, make_T
    from binpick.perception.pose.refine import PoseRefiner, RefineConfig
    T_true = make_T(axis_angle(np.array([1.0, 0.2, 0.0]), np.deg2rad(30)), np.array([0.01, -0.02, 0.5]))
    refiner = PoseRefiner(OBJ, RefineConfig(iterations=0))         # no ICP: the fit of each hypothesis as given
    observed = refiner.visible_model(T_true)
    shifted = lambda mm: make_T(T_true[:3, :3], T_true[:3, 3] + [mm / 1000, 0, 0])  # noqa: E731
    assert refiner.best([shifted(5), T_true], observed)[0] == 1                 # a clearly better fit wins
    assert refiner.best([shifted(0.2), T_true], observed)[0] == 0               # within 0.5 mm: a tie
    assert PoseRefiner(OBJ, RefineConfig(iterations=0, fit_margin_m=0.0)).best(
        [shifted(0.2), T_true], observed)[0] == 1


def test_stripped_checkpoint_is_smaller_and_estimates_the_same(trained, dataset, tmp_path):
    ckpt, _, _ = trained
    small = tmp_path / 'shipped.pt'
    checkpoint.strip(ckpt, small, 'pose')
    raw = checkpoint.load(small, 'pose')
    assert 'optimizer' not in raw and 'state' not in raw
    assert small.stat().st_size < 0.5 * ckpt.stat().st_size
    frame = BopSplit(dataset / 'test').frame(0, 0, with_masks=True)
    masks = [m for m in frame.masks_visib if m.sum() > 100]
    # the network alone: the refinement's choice among near-equal hypotheses is discrete and may flip
    # with float16 weights, the network's voted centres may not
    full = PoseEstimator.load(ckpt, CATALOG, inference='net').estimate(frame.rgb, frame.depth_m, frame.camera.K, masks)
    half = PoseEstimator.load(small, CATALOG, inference='net').estimate(frame.rgb, frame.depth_m, frame.camera.K, masks)
    for a, b in zip(full, half):
        assert (a.T_cam_obj is None) == (b.T_cam_obj is None)
        if a.T_cam_obj is not None:
            assert np.abs(a.T_cam_obj[:3, 3] - b.T_cam_obj[:3, 3]).max() < 0.005


def test_fewer_points_per_instance_at_inference(trained, dataset):
    ckpt, _, _ = trained
    frame = BopSplit(dataset / 'test').frame(0, 0, with_masks=True)
    masks = [m for m in frame.masks_visib if m.sum() > 100]
    fewer = PoseEstimator.load(ckpt, CATALOG, inference='net', points=24)
    assert fewer.config.n_points == 24 and PoseEstimator.load(ckpt, CATALOG).config.n_points == 64
    hypotheses = fewer.candidate_poses(frame.rgb, frame.depth_m, frame.camera.K, masks, np.random.default_rng(0))
    assert any(h.poses for h in hypotheses)
    assert all(np.isclose(np.linalg.det(T[:3, :3]), 1.0) for h in hypotheses for T, _ in h.poses)
    with pytest.raises(ValueError, match='points'):
        PoseEstimator.load(ckpt, CATALOG, points=3)


def test_a_self_trained_model_ships_under_its_parts_name(trained, tmp_path):
    import torch

    from binpick.demo_models import ship_self_trained
    ckpt, _, _ = trained
    shipped = ship_self_trained(ckpt, tmp_path)
    assert shipped == tmp_path / 'connector_block_pose_st.pt'
    raw = checkpoint.load(shipped, 'pose', {'connector_block': OBJ.fingerprint})
    floats = [v for v in raw['model'].values() if v.is_floating_point()]
    assert 'optimizer' not in raw and floats and all(v.dtype == torch.float16 for v in floats)
    assert PoseEstimator.load(shipped, CATALOG, 'connector_block').config == PoseEstimator.load(ckpt, CATALOG).config
