"""The self-training experiment on a part nobody tuned to: a mesh made here, added to a catalog with a
declared symmetry, run end to end at tiny sizes (every row of the Table-2 report, the calibrated one
included), and resumed without redoing anything."""
import json

import numpy as np
import pytest
import trimesh
from conftest import small_synth_dataset

from binpick.catalog import Catalog
from binpick.catalog.catalog import BUILTIN_DIR, add_object
from binpick.perception.pose.train import PoseTrainConfig
from binpick.selftrain.calibration import Calibration
from binpick.selftrain.experiment import ExperimentConfig, run_experiment
from binpick.selftrain.loop import SelfTrainConfig


@pytest.fixture(scope='module')
def new_part(tmp_path_factory):
    """A square plate with a square hole (about 36 x 36 x 8 mm): symmetric under quarter turns about z."""
    root = tmp_path_factory.mktemp('catalog')
    outer = trimesh.creation.box(extents=(36.0, 36.0, 8.0))
    hole = trimesh.creation.box(extents=(14.0, 14.0, 12.0))
    mesh_file = root / 'plate.stl'
    outer.difference(hole).export(mesh_file)
    add_object('square_frame', mesh_file, 'mm', ['discrete:z:4'], root=root / 'parts', grasp_samples=150,
               hold_trials=0)
    return Catalog([BUILTIN_DIR, root / 'parts'])


@pytest.mark.slow
def test_experiment_runs_on_a_part_added_to_the_catalog(new_part, tmp_path, monkeypatch):
    monkeypatch.setenv('BINPICK_CATALOG', str(new_part.roots[-1]))
    obj = new_part.get('square_frame')
    assert obj.info.is_symmetric and len(obj.info.symmetries_discrete) == 3
    syn = small_synth_dataset(tmp_path / 'syn', obj.name, width=160, seed=1, scenes=3)
    real = small_synth_dataset(tmp_path / 'real', obj.name, width=160, seed=2, scenes=3, domain='real')
    config = ExperimentConfig(obj.name, seg_epochs=1, seg_score_threshold=0.05, teacher=PoseTrainConfig(epochs=1),
                              selftrain=SelfTrainConfig(iterations=1, student_epochs=1, perceptual='effnet-lite0',
                                                        seg_iters_per_epoch=2),
                              calibration_min_candidates=3)
    run = tmp_path / 'run'
    experiment = lambda: run_experiment(run, config, new_part, syn=syn, real=real, progress=False,  # noqa: E731
                                        log=lambda *_: None)
    results = experiment()
    assert results['object'] == 'square_frame' and results['metric'] == 'ADD-S'
    assert set(results['selftrain']) == {'both', 'appearance', 'geometry', 'calibrated', 'both+segmentation'}
    assert 0.0 <= results['seg_ap50']['LB'] <= 1.0
    joint = results['selftrain']['both+segmentation']
    if joint:      # the joint row's students: a segmentation each, evaluated on the test split with its masks
        assert 'seg_student' in joint[0]
        assert results['seg_ap50']['both+segmentation'] == joint[-1]['evaluation']['seg_ap50']
    for criterion in ('both', 'appearance', 'geometry'):
        records = results['selftrain'][criterion]
        assert [r['iteration'] for r in records] == [1], criterion
        assert 0.0 <= records[0]['evaluation']['recall'] <= 1.0
    assert results['recall']['LB'] == results['recall_lb'] and results['recall']['UB'] == results['recall_ub']
    assert results['recall']['both'] == results['selftrain']['both'][-1]['evaluation']['recall']
    ran = {c for c, records in results['selftrain'].items() if records}      # a criterion may stop at once
    assert {'both', 'appearance', 'geometry'} <= ran
    assert set(results['gap_closed']) == set(results['precision_iter1']) == ran
    calibration = json.loads((run / 'calibration.json').read_text())
    assert results['calibration'] == calibration and calibration['target_precision'] == 0.97
    assert calibration['candidates'] >= 3
    report = (run / 'report.md').read_text()
    assert '| LB: trained on synthetic bins only |' in report and '| UB: ' in report
    # resumed: nothing is trained again, the figures are the same
    stamps = {p: p.stat().st_mtime_ns for p in run.rglob('*.pt')}
    again = experiment()
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert np.isclose(again['recall_lb'], results['recall_lb'])
    # compared as JSON: a share over no candidates is nan, and nan != nan
    assert json.dumps(again['selftrain'], sort_keys=True) == json.dumps(results['selftrain'], sort_keys=True)


@pytest.mark.slow
@pytest.mark.parametrize('tau_geometry_m, stops', [(0.0, True), (1.0, False)])
def test_a_criterion_that_accepts_nothing_stops_alone(new_part, tmp_path, monkeypatch, tau_geometry_m, stops):
    """Thresholds given to the experiment (its calibration.json) that accept nothing stop that row only;
    thresholds that accept everything train a student."""
    monkeypatch.setenv('BINPICK_CATALOG', str(new_part.roots[-1]))
    syn = small_synth_dataset(tmp_path / 'syn', 'square_frame', width=160, seed=1, scenes=1)
    real = small_synth_dataset(tmp_path / 'real', 'square_frame', width=160, seed=2, scenes=2, domain='real')
    run = tmp_path / 'run'
    run.mkdir()
    Calibration(None, tau_geometry_m, 0.97, 1.0, 1.0, 10, 'test').save(run / 'calibration.json')
    config = ExperimentConfig('square_frame', seg_epochs=1, seg_score_threshold=0.05,
                              teacher=PoseTrainConfig(epochs=1), criteria=('both',), joint=False,
                              selftrain=SelfTrainConfig(iterations=1, student_epochs=1, perceptual='effnet-lite0'))
    results = run_experiment(run, config, new_part, syn=syn, real=real, progress=False, log=lambda *_: None)
    calibrated = results['selftrain']['calibrated']
    if stops:
        assert calibrated == [] and 'no pseudo label accepted' in results['stopped']['calibrated']
        assert 'Stopped early' in (run / 'report.md').read_text()
    else:
        assert [r['iteration'] for r in calibrated] == [1] and calibrated[0]['tau_geometry_m'] == 1.0
        assert calibrated[0]['accepted'] == calibrated[0]['candidates'] > 0 and 'calibrated' not in results['stopped']
    assert set(results['selftrain']) == {'both', 'calibrated'}           # the paper's row ran beside it
