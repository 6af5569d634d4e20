"""Segmentation end to end at a tiny size: train, checkpoint, resume, load, segment, evaluate."""
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import small_synth_dataset

from binpick.catalog import Catalog
from binpick.evaluation.segmentation_eval import evaluate_split
from binpick.perception import checkpoint
from binpick.perception.seg_model import SegConfig, build_model
from binpick.perception.seg_train import SegTrainConfig, init_from, label_map, train_segmentation
from binpick.perception.segmentation import Segmenter

CATALOG = Catalog()
CONFIG = SegConfig(['hex_nut'], fpn_channels=32, mask_head_channels=32, min_size=120, max_size=160,
                   anchor_sizes=(8, 16, 32, 64, 128))
LABELS = label_map(CATALOG, ['hex_nut'])
FAST = SegTrainConfig(epochs=1, max_iters_per_epoch=2, warmup_iters=2, checkpoint_every=1)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    return small_synth_dataset(tmp_path_factory.mktemp('seg') / 'ds', 'hex_nut', width=160, seed=4)


@pytest.fixture(scope='module')
def trained(dataset, tmp_path_factory):
    ckpt = tmp_path_factory.mktemp('ckpt') / 'seg.pt'
    logs = []
    state = train_segmentation([dataset / 'train'], ckpt, ['hex_nut'], CATALOG, CONFIG, FAST,
                               validate=lambda seg: {'AP50': evaluate_split(seg, dataset / 'test', LABELS,
                                                                            max_images=1)['AP50']},
                               progress=False, log=logs.append)
    return ckpt, state, logs


def test_training_writes_a_checkpoint_with_history(trained):
    ckpt, state, logs = trained
    assert state.epoch == 1 and len(state.history) == 1
    assert 'AP50' in state.history[0] and np.isfinite(state.history[0]['loss'])
    raw = checkpoint.load(ckpt, 'segmentation', {'hex_nut': CATALOG.get('hex_nut').fingerprint})
    assert raw['state']['epoch'] == 1 and 'optimizer' in raw
    assert any('AP50=' in line for line in logs)


def test_resume_continues_where_it_stopped(trained, dataset, tmp_path):
    ckpt, _, _ = trained
    copy = tmp_path / 'seg.pt'
    copy.write_bytes(ckpt.read_bytes())
    logs = []
    state = train_segmentation([dataset / 'train'], copy, ['hex_nut'], CATALOG, CONFIG,
                               dataclasses.replace(FAST, epochs=2), resume=True,
                               progress=False, log=logs.append)
    assert state.epoch == 2 and len(state.history) == 2
    assert logs[0].startswith('resuming') and 'epoch 2' in logs[0]
    with pytest.raises(checkpoint.CheckpointError, match='another model configuration'):
        train_segmentation([dataset / 'train'], copy, ['hex_nut'], CATALOG,
                           dataclasses.replace(CONFIG, fpn_channels=48), FAST, resume=True, progress=False)


def test_a_new_part_starts_from_another_parts_model(trained, tmp_path):
    ckpt, _, _ = trained
    trained_weights = checkpoint.load(ckpt, 'segmentation')['model']
    # another input size changes no weight: the model can be fine-tuned on larger images
    two_parts = dataclasses.replace(CONFIG, object_names=['zigzag_bracket', 'spur_gear'],
                                    min_size=CONFIG.min_size * 3 // 2, max_size=CONFIG.max_size * 3 // 2)
    model = build_model(two_parts, pretrained_backbone=False)
    message = init_from(model, two_parts, ckpt)
    assert 'trained for hex_nut' in message and 'left at their initial values' in message
    weights = model.state_dict()
    fpn = next(k for k in trained_weights if k.startswith('backbone.fpn') and k.endswith('weight'))
    assert torch.equal(weights[fpn], trained_weights[fpn])
    classes = 'roi_heads.box_predictor.cls_score.weight'
    assert weights[classes].shape[0] == 3 and trained_weights[classes].shape[0] == 2
    with pytest.raises(checkpoint.CheckpointError, match=f'{ckpt}.*fpn_channels'):
        init_from(build_model(dataclasses.replace(two_parts, fpn_channels=48), pretrained_backbone=False),
                  dataclasses.replace(two_parts, fpn_channels=48), ckpt)


@pytest.mark.slow
def test_segment_and_evaluate(trained, dataset):
    ckpt, _, _ = trained
    segmenter = Segmenter.load(ckpt, CATALOG, score_threshold=0.0)
    rgb = np.zeros((120, 160, 3), np.uint8)
    for inst in segmenter.segment(rgb):
        assert inst.mask.shape == (120, 160) and inst.mask.dtype == bool
        assert inst.object_name == 'hex_nut' and 0.0 <= inst.score <= 1.0
    metrics = evaluate_split(segmenter, dataset / 'test', label_map(CATALOG, ['hex_nut']))
    assert set(metrics) >= {'AP', 'AP50', 'AP75', 'ms_per_image'} and 0.0 <= metrics['AP50'] <= 1.0


@pytest.mark.slow
def test_cli_eval_seg(trained, dataset, tmp_path):
    ckpt, _, _ = trained
    out = subprocess.run([sys.executable, '-m', 'binpick.cli', 'eval-seg', '--ckpt', str(ckpt), '--data',
                          str(dataset), '--json', str(tmp_path / 'm.json'), '--threads', '1'],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert 'mask AP' in out.stdout and (tmp_path / 'm.json').is_file()
    bad = subprocess.run([sys.executable, '-m', 'binpick.cli', 'eval-seg', '--ckpt', str(tmp_path / 'm.json'),
                          '--data', str(dataset)], capture_output=True, text=True)
    assert bad.returncode == 1 and 'not a readable checkpoint' in bad.stderr


@pytest.mark.slow
def test_a_shipped_model_keeps_the_mask_threshold_it_was_shipped_with(trained, dataset, tmp_path):
    ckpt, _, _ = trained
    config = checkpoint.load(ckpt, 'segmentation')['config']
    assert SegConfig(**config).mask_threshold == 0.5                      # what training leaves
    shipped = tmp_path / 'shipped.pt'
    checkpoint.strip(ckpt, shipped, 'segmentation', {**config, 'mask_threshold': 0.2})
    loose, strict = (Segmenter.load(shipped, CATALOG, score_threshold=0.0) for _ in range(2))
    assert loose.config.mask_threshold == 0.2
    strict.config = dataclasses.replace(strict.config, mask_threshold=0.5)
    from binpick.data.bop import BopSplit
    rgb = BopSplit(dataset / 'test').frame(0, 0).rgb
    pairs = list(zip(loose.segment(rgb), strict.segment(rgb)))
    assert pairs, 'the tiny model found nothing to compare'
    # the same detections; a lower threshold only adds pixels
    assert all(np.array_equal(a.box_xyxy, b.box_xyxy) and (b.mask <= a.mask).all() for a, b in pairs)
    assert sum(a.mask.sum() for a, _ in pairs) > sum(b.mask.sum() for _, b in pairs)


def test_a_smaller_input_size_is_what_the_loaded_model_resizes_to(trained, dataset):
    from binpick.data.bop import BopSplit
    segmenter = Segmenter.load(trained[0], CATALOG, input_size_px=96, score_threshold=0.0)
    assert segmenter.config.min_size == 96 and segmenter.model.transform.min_size == (96,)
    rgb = BopSplit(dataset / 'test').frame(0, 0).rgb
    assert all(i.mask.shape == rgb.shape[:2] for i in segmenter.segment(rgb))   # masks at the frame's size


@pytest.mark.slow
def test_the_frozen_backbone_segments_as_the_trained_model(trained, dataset):
    from binpick.data.bop import BopSplit
    ckpt, _, _ = trained
    eager = Segmenter.load(ckpt, CATALOG, freeze=False, score_threshold=0.0)
    frozen = Segmenter.load(ckpt, CATALOG, score_threshold=0.0)
    assert isinstance(frozen.model.backbone, torch.jit.ScriptModule)
    assert not isinstance(eager.model.backbone, torch.jit.ScriptModule)
    rgb = BopSplit(dataset / 'test').frame(0, 0).rgb
    a, b = eager.segment(rgb), frozen.segment(rgb)
    assert a and len(a) == len(b)
    assert max(abs(x.score - y.score) for x, y in zip(a, b)) < 1e-3
    assert all((x.mask != y.mask).mean() < 0.01 for x, y in zip(a, b))


@pytest.mark.slow
def test_a_class_agnostic_model_labels_every_part_one_class_and_serves_as_unseen_part_segmenter(
        trained, dataset, tmp_path):
    from binpick.data.bop import BopSplit
    from binpick.demo_models import ship_class_agnostic
    from binpick.modelfree.uois import AgnosticMaskRcnn, load_segmenter
    from binpick.perception.seg_data import BopSegSource
    from binpick.perception.segmentation import ANY_PART
    assert label_map(CATALOG, [ANY_PART]) is None
    sample = BopSegSource([dataset / 'train'], None).load(0)
    assert len(sample.labels) > 0 and set(sample.labels.tolist()) == {1}
    ckpt = tmp_path / 'any.pt'
    config = dataclasses.replace(CONFIG, object_names=[ANY_PART])
    train_segmentation([dataset / 'train'], ckpt, [ANY_PART], CATALOG, config, FAST, progress=False,
                       log=lambda *_: None)
    segmenter = load_segmenter(ckpt, score_threshold=0.0)
    assert isinstance(segmenter, AgnosticMaskRcnn)
    frame = BopSplit(dataset / 'test').frame(0, 0)
    instances = segmenter.segment(frame.rgb, frame.depth_m, frame.camera.K)
    assert instances and all(i.mask.shape == frame.depth_m.shape and i.mask.dtype == bool for i in instances)
    out = tmp_path / 'figures.json'                # no pixel is that probable: every instance is empty, none found
    done = subprocess.run([sys.executable, '-m', 'binpick.cli', 'eval-uois', '--ckpt', str(ckpt), '--data',
                           str(dataset), '--score-threshold', '0', '--mask-threshold', '1.01', '--json', str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert 'mask probability >= 1.01' in results['model'] and results['datasets'][str(dataset)]['recall'] == 0.0
    with pytest.raises(checkpoint.CheckpointError, match='not a class-agnostic one'):
        load_segmenter(trained[0])
    shipped = ship_class_agnostic(ckpt, tmp_path, mask_threshold=0.3)
    assert shipped == tmp_path / 'uois_maskrcnn.pt' and shipped.stat().st_size < 0.6 * ckpt.stat().st_size
    assert checkpoint.load(shipped, 'segmentation')['config']['mask_threshold'] == 0.3
    assert load_segmenter(shipped, score_threshold=0.0).segment(frame.rgb, frame.depth_m, frame.camera.K)
    with pytest.raises(checkpoint.CheckpointError, match='not a class-agnostic one'):
        ship_class_agnostic(trained[0], tmp_path / 'no')


@pytest.mark.slow
def test_an_rgb_model_starts_an_rgbd_one_that_reads_depth(trained, dataset, tmp_path):
    from binpick.data.bop import BopSplit
    ckpt, _, _ = trained
    rgbd = dataclasses.replace(CONFIG, depth_input=True)
    model = build_model(rgbd, pretrained_backbone=False)
    assert '1 left at their initial values' in init_from(model, rgbd, ckpt)        # the depth stem, at zero
    frame = BopSplit(dataset / 'test').frame(0, 0)
    rgb_only = Segmenter.load(ckpt, CATALOG, freeze=False, score_threshold=0.0).segment(frame.rgb)
    started = Segmenter(model, rgbd, score_threshold=0.0).segment(frame.rgb, frame.depth_m)
    assert rgb_only and [round(i.score, 5) for i in started] == [round(i.score, 5) for i in rgb_only]
    with pytest.raises(ValueError, match='reads depth'):
        Segmenter(model, rgbd).segment(frame.rgb)
    out = tmp_path / 'rgbd.pt'
    train_segmentation([dataset / 'train'], out, ['hex_nut'], CATALOG, rgbd, FAST, init=ckpt, progress=False,
                       log=lambda *_: None)
    assert checkpoint.load(out, 'segmentation')['model']['backbone.depth_stem.weight'].abs().sum() > 0   # it learnt
    loaded = Segmenter.load(out, CATALOG, score_threshold=0.0)                       # frozen for the CPU
    assert isinstance(loaded.model.backbone, torch.jit.ScriptModule)
    assert all(i.mask.shape == frame.depth_m.shape for i in loaded.segment(frame.rgb, frame.depth_m))


@pytest.mark.slow
def test_real_emulated_ground_truth_trains_only_the_upper_bound(tmp_path):
    real = small_synth_dataset(tmp_path / 'real', 'hex_nut', width=160, seed=5, scenes=1, domain='real')
    run = [sys.executable, '-m', 'binpick.cli', 'train-seg', '--data', str(real), '--out', str(tmp_path / 'ub.pt'),
           '--epochs', '1', '--max-iters-per-epoch', '1', '--val-images', '0', '--min-size', '120',
           '--threads', '1']
    refused = subprocess.run(run, capture_output=True, text=True)
    assert refused.returncode == 1 and f'{real / "train"} has no labels' in refused.stderr, refused.stderr
    assert '--use-eval-gt' in refused.stderr and not (tmp_path / 'ub.pt').exists()
    ub = subprocess.run([*run, '--use-eval-gt'], capture_output=True, text=True)
    assert ub.returncode == 0, ub.stderr[-2000:]
    raw = checkpoint.load(tmp_path / 'ub.pt', 'segmentation')
    assert raw['state']['epoch'] == 1 and np.isfinite(raw['state']['history'][0]['loss'])
