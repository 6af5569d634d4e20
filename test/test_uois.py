"""Parts nobody registered: procedural training shapes and their packing, the class-agnostic dataset, the
UCN loss, mean-shift clustering, the object-level scores with ignored instances, and train/eval end to end."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from binpick.modelfree.mean_shift import ClusterConfig, cluster_instances
from binpick.modelfree.metrics import ObjectScores
from binpick.modelfree.shapes import TEST_KINDS, TRAIN_KINDS, random_shape, write_shape_catalog
from binpick.modelfree.ucn_loss import embedding_loss
from binpick.modelfree.uois_eval import score_image

# -- shapes and packing ----------------------------------------------------------------------------------

@pytest.mark.parametrize('kind', [*TRAIN_KINDS, *TEST_KINDS])
def test_every_shape_kind_is_a_watertight_part_that_fits_the_tote(kind):
    rng = np.random.default_rng(3)
    mesh = random_shape(kind, rng)
    assert mesh.is_watertight and mesh.volume > 0
    assert np.allclose(mesh.bounds.mean(axis=0), 0.0, atol=1e-9)       # origin at the box centre
    assert mesh.extents.min() > 0.002 and mesh.extents.max() < 0.16    # metres: a few mm to 16 cm


@pytest.mark.slow
def test_test_shapes_are_kept_out_of_training_and_shapes_are_reproducible(tmp_path):
    assert not set(TRAIN_KINDS) & set(TEST_KINDS)
    n_kinds = len(TRAIN_KINDS)
    a = write_shape_catalog(tmp_path / 'a', 'train', n_kinds, seed=5)
    b = write_shape_catalog(tmp_path / 'b', 'train', n_kinds, seed=5)
    assert len(a) == n_kinds and {o.description.split()[-1] for o in a} == set(TRAIN_KINDS)
    assert all(np.array_equal(a.get(n).mesh.vertices, b.get(n).mesh.vertices) for n in a.names())
    assert not np.array_equal(a.get(a.names()[0]).mesh.vertices,
                              write_shape_catalog(tmp_path / 'c', 'train', 1, seed=6).get(a.names()[0]).mesh.vertices)
    only = write_shape_catalog(tmp_path / 'd', 'train', 3, seed=5, kinds=('headed_rod', 'folded_sheet'))
    assert sorted(o.description.split()[-1] for o in only) == ['folded_sheet', 'headed_rod', 'headed_rod']
    from binpick.modelfree.shape_synth import ShapeSynthRequest
    from binpick.sim.synth import SynthError
    with pytest.raises(SynthError, match='--kinds wedge: not kinds of the train set'):
        ShapeSynthRequest('real', 2, 1, 1, 3, 'train', 0, ('rod', 'wedge')).validate()   # a test-only kind


def test_ordered_packing_lays_parts_flat_in_rows(tmp_path):
    from binpick.sim.bin_physics import BinPhysics
    shapes = write_shape_catalog(tmp_path, 'train', 4, seed=1)
    box = next(o for o in shapes if o.description.endswith('box_medium'))
    thin_side = int(np.argmin(box.mesh.extents))
    with BinPhysics(box, seed=0) as physics:
        physics.pack(6, 'ordered')
        poses = physics.poses()
    assert len(poses) == 6
    for T in poses:                                     # the shortest side stays vertical, the part on the floor
        assert abs(T[2, thin_side]) > 0.99
        assert T[2, 3] < box.mesh.extents.min()
    yaws = [np.arctan2(T[1, 0], T[0, 0]) % np.pi for T in poses]
    assert np.ptp(np.minimum(yaws, np.pi - np.array(yaws))) < 0.1   # all in the same direction


def test_class_agnostic_dataset_has_one_instance_per_part_and_resumes(tmp_path):
    from binpick.data.bop import BopSplit
    from binpick.modelfree.shape_synth import ShapeSynthRequest, run
    from binpick.sim.camera import PinholeCamera
    from binpick.sim.generator import CellConfig
    from binpick.sim.synth import SynthError
    cell = dataclasses.replace(CellConfig.from_config(),
                               camera=PinholeCamera.from_params(154.0, 154.0, 79.5, 59.5, 160, 120))
    request = ShapeSynthRequest('synthetic', 2, 1, 1, 3, 'train', 0)
    assert run(request, tmp_path, cell, progress=False) == 3
    assert run(request, tmp_path, cell, progress=False) == 0          # rerun: nothing left to do
    frame = BopSplit(tmp_path / 'train').frame(0, 0, with_masks=True)
    assert len(frame.gt) >= 2 and len({g.obj_id for g in frame.gt}) == 1
    overlap = np.sum([m.astype(int) for m in frame.masks_visib], axis=0)
    assert overlap.max() == 1                                          # visible masks never overlap
    assert json.loads((tmp_path / 'dataset_info.json').read_text())['format'] == 'binpick-shapes/1'
    with pytest.raises(SynthError, match='different dataset'):
        run(dataclasses.replace(request, shape_set='test'), tmp_path, cell, progress=False)


# -- the loss and the clustering ---------------------------------------------------------------------------

def _blobs():
    """Labels of a 30x40 image: background 0, parts 1-3 (part 3 in two pieces far apart), and unit
    embeddings of 8 dimensions: one direction per label with a little noise."""
    labels = np.zeros((30, 40), np.int64)
    labels[2:12, 2:14], labels[15:28, 3:15], labels[4:14, 20:30], labels[18:28, 30:38] = 1, 2, 3, 3
    g = torch.Generator().manual_seed(0)
    directions = torch.nn.functional.normalize(torch.randn(4, 8, generator=g), dim=1)
    emb = directions[torch.from_numpy(labels)].permute(2, 0, 1) + 0.05 * torch.randn(8, 30, 40, generator=g)
    return torch.from_numpy(labels), torch.nn.functional.normalize(emb, dim=0)


def test_embedding_loss_is_zero_for_separated_tight_clusters_and_pulls_a_stray_pixel():
    labels = torch.tensor([[0, 0, 1, 1], [2, 2, -1, -1]])
    tight = torch.eye(4)[:3][labels.clamp(min=0)].permute(2, 0, 1)    # orthogonal: d = 0.5 >= delta
    assert [x.item() for x in embedding_loss(tight, labels)] == pytest.approx([0.0, 0.0, 0.0])
    stray = tight.clone().requires_grad_(True)
    with torch.no_grad():
        stray[:, 0, 2] = torch.nn.functional.normalize(torch.tensor([1.0, 1.0, 0, 0]), dim=0)   # label 1 pixel drifts
    intra = embedding_loss(stray, labels)[0]
    intra.backward()
    assert intra.item() > 0 and stray.grad[:, 0, 2].abs().sum() > 0
    same = torch.ones(4, 2, 4) / 2.0                                   # every cluster at one point: pushed apart
    assert embedding_loss(same, labels)[1].item() == pytest.approx(0.25)


def test_the_neighbours_term_pushes_only_touching_clusters_apart():
    labels = torch.zeros(1, 12, dtype=torch.long)
    labels[0, 0:3], labels[0, 3:5], labels[0, 9:12] = 1, 2, 3          # 1 and 2 touch, 3 is far from both
    emb = torch.zeros(2, 1, 12)
    emb[0] = 1.0                                                       # background and parts 1, 2 alike
    emb[1, 0, 9:12], emb[0, 0, 9:12] = 1.0, 0.0                        # part 3 orthogonal to the rest
    _, inter, neighbours = embedding_loss(emb, labels)
    # touching within 2 px: 1-2, 2-background, background-3; all six pairs count in UCN's inter term
    assert neighbours.item() == pytest.approx((0.25 + 0.25 + 0.0) / 3)
    assert inter.item() == pytest.approx((0.25 * 3) / 6)


def test_mean_shift_finds_each_part_and_splits_pieces_far_apart():
    labels, emb = _blobs()
    logits = torch.where(labels > 0, 5.0, -5.0).float()
    instances = cluster_instances(emb, logits, ClusterConfig(min_pixels=20))
    found = sorted(int(i.mask.sum()) for i in instances)
    assert found == sorted([120, 156, 100, 80])                       # part 3's two pieces are two instances
    for inst in instances:
        assert len(np.unique(labels.numpy()[inst.mask])) == 1 and 0 < inst.score <= 1
    assert cluster_instances(emb, torch.full((30, 40), -5.0)) == []    # no foreground, no instance


def test_object_scores_ignore_barely_visible_parts():
    a, b, c = (np.zeros((10, 10), bool) for _ in range(3))
    a[:5, :5], b[5:, 5:], c[:2, 8:] = True, True, True
    scores = ObjectScores()
    score_image(scores, [a, c], [a, b, c], ignore=[False, False, True])   # c found but ignored, b missed
    assert (scores.true_positives, scores.false_positives, scores.false_negatives) == (1, 0, 1)


# -- train and evaluate end to end -----------------------------------------------------------------------

@pytest.mark.slow
def test_train_uois_writes_a_resumable_model_that_segments(tmp_path):
    from conftest import small_synth_dataset

    from binpick.modelfree.ucn import UcnConfig
    from binpick.modelfree.uois import UoisSegmenter, load_segmenter
    from binpick.modelfree.uois_eval import evaluate
    from binpick.modelfree.uois_train import UoisTrainConfig, train_uois
    from binpick.perception.checkpoint import CheckpointError
    data = small_synth_dataset(tmp_path / 'ds', 'connector_block', width=160, seed=4)
    config = UcnConfig(input_scale=1.0, branch_heads=True)
    train = UoisTrainConfig(epochs=1, iterations_per_epoch=2, batch_size=1, branch_loss_weight=0.5,
                            checkpoint_every=1)
    out = tmp_path / 'uois.pt'
    state = train_uois([data / 'train'], out, config=config, train=train, progress=False, log=lambda *_: None)
    assert state.epoch == 1 and {'intra', 'inter', 'foreground', 'branches'} <= set(state.history[0])
    longer = dataclasses.replace(train, epochs=2)
    assert train_uois([data / 'train'], out, config=config, train=longer, resume=True, progress=False,
                      log=lambda *_: None).epoch == 2
    segmenter = load_segmenter(out)                                       # either kind of checkpoint
    assert isinstance(segmenter, UoisSegmenter)
    started = tmp_path / 'from_init.pt'
    frozen = dataclasses.replace(train, iterations_per_epoch=1, lr=0.0)     # lr 0: the weights stay as loaded
    train_uois([data / 'train'], started, config=config, train=frozen, init=out, progress=False, log=lambda *_: None)
    theirs = UoisSegmenter.load(started).model.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in segmenter.model.state_dict().items())
    with pytest.raises(CheckpointError, match='another model configuration'):
        train_uois([data / 'train'], tmp_path / 'x.pt', config=dataclasses.replace(config, embedding_dim=8),
                   train=train, init=out, progress=False, log=lambda *_: None)
    figures = evaluate(lambda f: segmenter.segment(f.rgb, f.depth_m, f.camera.K), [data / 'test'])
    assert figures['images'] == 1 and 0.0 <= figures['f1'] <= 1.0


@pytest.mark.slow
def test_eval_uois_command_scores_the_baseline_and_names_a_missing_split(tmp_path):
    import subprocess
    import sys

    from conftest import small_synth_dataset
    data = small_synth_dataset(tmp_path / 'ds', 'hex_nut', width=160, seed=2)
    cmd = [sys.executable, '-m', 'binpick.cli', 'eval-uois', '--baseline']
    done = subprocess.run(cmd + ['--data', str(data), '--json', str(tmp_path / 'e.json')], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    figures = json.loads((tmp_path / 'e.json').read_text())['datasets'][str(data)]
    assert figures['images'] == 1 and 0.0 <= figures['f1'] <= 1.0
    missing = subprocess.run(cmd + ['--data', str(tmp_path)], capture_output=True, text=True)
    assert missing.returncode == 1 and f'{tmp_path}: no test/ split' in missing.stderr
    both = subprocess.run(cmd + ['--ckpt', 'x.pt', '--data', str(data)], capture_output=True, text=True)
    assert both.returncode == 1 and 'give --ckpt MODEL or --baseline' in both.stderr
