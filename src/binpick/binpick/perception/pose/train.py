"""Training of the pose network from labels (ground truth or pseudo labels), resumable.

Losses: the uncertainty-weighted anchor loss (Eq. 8, ShapeMatch inside: Eq. 6 for symmetric
objects, Eq. 7 otherwise) plus the unit-vector loss (Eq. 9), plus a training aid that is not in the
paper: cross-entropy making the anchor nearest to the label the most certain one (see
:func:`~binpick.perception.pose.losses.anchor_classification_loss`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from binpick.catalog import Catalog
from binpick.perception import checkpoint
from binpick.perception.pose import estimator as est
from binpick.perception.pose.dataset import PoseDataset, collate
from binpick.perception.pose.labels import PoseLabel
from binpick.perception.pose.losses import anchor_classification_loss, anchor_loss, unit_vector_loss
from binpick.perception.pose.network import PoseNet, PoseNetConfig


@dataclass(frozen=True)
class PoseTrainConfig:
    epochs: int = 8
    batch_size: int = 32
    lr: float = 1e-3            # teacher; the paper's student uses 10x less (self-training)
    weight_decay: float = 1e-4
    vector_weight: float = 1.0
    anchor_class_weight: float = 1.0
    checkpoint_every: int = 50
    seed: int = 0
    model_points: int = 500
    model_points_symmetric: int = 128   # Eq. 6 pairs every point with every point: cost grows with its square


def train_pose(labels: list[PoseLabel], out: Path, object_name: str, catalog: Catalog,
               config: PoseNetConfig | None = None, train: PoseTrainConfig = PoseTrainConfig(),
               init: Path | None = None, resume: bool = False, validate=None, progress: bool = True,
               log=print, on_step=None) -> checkpoint.TrainState:
    """Train a pose network on ``labels`` and write it to ``out`` (rewritten as training goes).

    Args:
        init: a pose checkpoint to start from (the teacher, for a student).
        resume: continue the run whose checkpoint is at ``out``.
        validate: optional callable(PoseNet) -> dict of figures, run after each epoch.
        on_step: optional callable(done, total) after each iteration (over all epochs); it may raise to stop.
    """
    from tqdm import tqdm

    if not labels:
        raise ValueError('no labels to train on')
    torch.manual_seed(train.seed)
    obj = catalog.get(object_name)
    config = config or PoseNetConfig(object_name=object_name)
    net = PoseNet(config, pretrained_backbone=init is None)
    if init is not None:
        net.load_state_dict(est.PoseEstimator.load(init, catalog, object_name).net.state_dict())
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=train.lr,
                                  weight_decay=train.weight_decay)
    state = checkpoint.TrainState()
    if resume and Path(out).is_file():
        raw = checkpoint.load(out, est.KIND, {object_name: obj.fingerprint})
        state = checkpoint.resume(out, raw, asdict(config), net, optimizer, log)

    n_points = train.model_points_symmetric if obj.info.is_symmetric else train.model_points
    pts = torch.from_numpy(obj.sample_points(n_points)).float()
    dataset = PoseDataset(labels, config, augment=True, seed=train.seed)
    per_epoch = math.ceil(len(dataset) / train.batch_size)

    def save():
        est.save(out, net, catalog, optimizer=optimizer.state_dict(), state=asdict(state), train_config=asdict(train))

    while state.epoch < train.epochs:
        dataset.epoch = state.epoch
        order = np.random.default_rng((train.seed, state.epoch)).permutation(len(dataset))
        for group in optimizer.param_groups:   # cosine decay per epoch
            group['lr'] = train.lr * 0.5 * (1 + math.cos(math.pi * state.epoch / train.epochs))
        net.train()
        bar = tqdm(total=per_epoch, initial=state.iteration, desc=f'epoch {state.epoch + 1}/{train.epochs}',
                   unit='it', disable=not progress)
        losses = []
        for it in range(state.iteration, per_epoch):
            batch = collate([dataset[int(i)] for i in order[it * train.batch_size:(it + 1) * train.batch_size]])
            state.iteration = it + 1
            bar.update()
            if on_step is not None:
                on_step(state.epoch * per_epoch + it + 1, train.epochs * per_epoch)
            if batch is None:
                continue
            crop, points, rgb, uv, R_label, v_label = batch
            out_ = net(crop, points, rgb, uv)
            symmetric = obj.info.is_symmetric
            loss = (anchor_loss(out_['R'], out_['sigma'], R_label, pts, symmetric, obj.info.diameter_m)
                    + train.vector_weight * unit_vector_loss(out_['vectors'], v_label)
                    + train.anchor_class_weight * anchor_classification_loss(out_['log_sigma'], net.anchors, R_label,
                                                                             pts, symmetric)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f'{loss.item():.3f}')
            if state.iteration % train.checkpoint_every == 0:
                save()
        bar.close()
        record = {'epoch': state.epoch + 1, 'loss': float(np.mean(losses)) if losses else float('nan')}
        if validate is not None:
            net.eval()
            record.update(validate(net))
        log(' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in record.items()))
        state.history.append(record)
        state.epoch, state.iteration = state.epoch + 1, 0
        save()
    return state
