"""The retrainer's job without ROS: publication only when the student gains enough, `new` selection, cancel and failure
leave the model in service, eviction spares frames a job reads (across processes, via in_use.json)."""
import dataclasses
import threading

import numpy as np
import pytest
from conftest import CELL_OBJECT

from binpick.catalog import Catalog
from binpick.data.bank import PseudoLabelBank
from binpick.data.bop import BopSplit
from binpick.perception.model_registry import ModelRegistry
from binpick.perception.pose.estimator import PoseEstimator
from binpick.selftrain.job_process import JobSpec, run_job_in_child
from binpick.selftrain.online import JobConfig, bank_frame, run_job
from binpick.selftrain.perceptual import PerceptualDistance
from binpick.selftrain.scores import PoseScorer

CATALOG = Catalog()
FAST = JobConfig(iterations=1, student_epochs=1, batch_size=4, holdout_every=3)


@pytest.fixture
def models(cell_models):
    return cell_models


@pytest.fixture(scope='module')
def scorer():
    return PoseScorer(CATALOG.get(CELL_OBJECT), PerceptualDistance('effnet-lite0'))


def fill_bank(bank: PseudoLabelBank, models, scorer) -> None:
    """Bank every frame of the tiny dataset with the teacher's estimates on its visible masks."""
    estimator = PoseEstimator.load(models['pose'], CATALOG)
    for split in ('train', 'test'):
        bop = BopSplit(models['data'] / split)
        for scene_id in bop.scene_ids():
            for frame in bop.frames(scene_id, with_masks=True):
                masks = [m for m in frame.masks_visib if m.sum() > 60]
                results = estimator.estimate(frame.rgb, frame.depth_m, frame.camera.K, masks)
                keep = [k for k, r in enumerate(results) if r.T_cam_obj is not None]
                bank_frame(bank, scorer, frame.rgb, frame.depth_m, frame.camera.K, [masks[k] for k in keep],
                           [results[k].T_cam_obj for k in keep], [results[k].confidence for k in keep])


@pytest.fixture
def bank(tmp_path, models, scorer):
    b = PseudoLabelBank(tmp_path / 'bank', CELL_OBJECT)
    fill_bank(b, models, scorer)
    assert len(b.frame_ids()) == 3
    return b


@pytest.mark.slow
def test_job_publishes_a_student_only_when_it_gains_and_new_selects_later_frames(bank, models, scorer, tmp_path):
    registry = ModelRegistry(tmp_path / 'models', models['pose'])
    seen = []
    # a gain above 1 cannot be reached (rates are fractions): the job runs in full but publishes nothing
    result = run_job(bank, registry, scorer, tmp_path / 'jobs', dataclasses.replace(FAST, min_gain=1.01), CATALOG,
                     on_progress=lambda p: seen.append(p.stage), log=lambda *_: None)
    assert result.success and not result.published and 'not published' in result.message
    assert {'selecting', 'training', 'validating', 'done'} <= set(seen) and 'publishing' not in seen
    m = result.metrics
    assert m['train_frames'] == 2 and m['held_out_frames'] == 1 and m['last_frame'] == 2
    assert 0 <= m['verified_rate'] <= 1 and m['accepted_labels'] <= m['candidates']
    assert registry.current().version == 0
    assert not (bank.root / 'in_use.json').exists()         # released
    # any student passes a gain of -1: published as v1
    result = run_job(bank, registry, scorer, tmp_path / 'jobs', dataclasses.replace(FAST, min_gain=-1.0), CATALOG,
                     log=lambda *_: None)
    assert result.success and result.published, result.message
    assert registry.current().version == 1 and registry.current().path.name == 'pose_v0001.pt'
    # "new": only frames banked after the model in service was trained
    again = run_job(bank, registry, scorer, tmp_path / 'jobs', JobConfig(selection='new'), CATALOG,
                    log=lambda *_: None)
    assert not again.success and '0 frames' in again.message and registry.current().version == 1


def test_cancel_and_failure_keep_the_model_in_service(bank, models, scorer, tmp_path):
    registry = ModelRegistry(tmp_path / 'models', models['pose'])
    cancel = threading.Event()

    def progress(p):
        if p.stage == 'training' and p.progress > 0:
            cancel.set()
    result = run_job(bank, registry, scorer, tmp_path / 'jobs', FAST, CATALOG, on_progress=progress, cancel=cancel,
                     log=lambda *_: None)
    assert not result.success and 'cancelled during training' in result.message
    assert registry.current().version == 0 and not (tmp_path / 'models' / 'current.json').exists()
    # a frame whose candidates file is damaged makes the job fail with the file named; nothing changes
    (bank.root / '000001' / 'candidates.json').write_text('{"candidates": [{"oops": 1}]}')
    failed = run_job(bank, registry, scorer, tmp_path / 'jobs', FAST, CATALOG, log=lambda *_: None)
    assert not failed.success and '000001' in failed.message and 'candidates[0]' in failed.message
    assert registry.current().version == 0


@pytest.mark.slow
def test_a_job_in_a_child_process_reports_back_publishes_and_cancels(bank, models, tmp_path):
    spec = JobSpec(bank.root, CELL_OBJECT, tmp_path / 'models', models['pose'], tuple(CATALOG.roots),
                   'effnet-lite0', threads=1)
    stages, lines = [], []
    result = run_job_in_child(spec, dataclasses.replace(FAST, min_gain=-1.0), job_id='child1',
                              on_progress=lambda p: stages.append(p.stage), log=lines.append)
    assert result.success and result.published, result.message
    assert {'selecting', 'training', 'validating', 'publishing', 'done'} <= set(stages)
    assert any('job child1 iteration 1' in line for line in lines)
    assert spec.registry().current().version == 1 == result.model.version
    assert not (bank.root / 'in_use.json').exists()          # the child released the frames it read
    # cancelled from this process while the child trains: nothing new in service
    cancel = threading.Event()
    cancelled = run_job_in_child(spec, FAST, job_id='child2', cancel=cancel, log=lambda *_: None,
                                 on_progress=lambda p: p.stage == 'training' and cancel.set())
    assert not cancelled.success and 'cancelled during training' in cancelled.message
    assert spec.registry().current().version == 1
    # a job that cannot start says why, from the child
    bad = run_job_in_child(dataclasses.replace(spec, object_id='no_such_part'), FAST, job_id='child3',
                           log=lambda *_: None)
    assert not bad.success and 'no_such_part' in bad.message and bad.model.version == 1


def test_eviction_spares_frames_a_job_reads_in_another_process(bank, tmp_path):
    other = PseudoLabelBank(bank.root, CELL_OBJECT, max_bytes=1)        # the recorder's view, a tiny cap
    bank.protect([0, 1])                                                 # the retrainer's job
    assert other.evict() == []                                           # 0 and 1 protected, 2 is the newest
    bank.release()
    assert other.evict() == [0, 1]
    assert other.frame_ids() == [2]
    rgb = np.zeros((120, 160, 3), np.uint8)
    assert other.add(rgb, np.ones((120, 160), np.float32), np.eye(3), [], []) == 3
