"""Training of the segmentation model on BOP data (synthetic bins), resumable.

The checkpoint at ``out`` holds the weights, the optimiser state and where training stands; it is
rewritten (atomically) every ``checkpoint_every`` iterations and after each epoch's validation.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from binpick.catalog import Catalog
from binpick.perception import checkpoint, segmentation
from binpick.perception.seg_data import BopSegSource, SegTrainDataset
from binpick.perception.seg_model import INFERENCE_ONLY_FIELDS, SegConfig, build_model


@dataclass(frozen=True)
class SegTrainConfig:
    """Optimisation settings (SGD with warm-up and cosine decay)."""

    epochs: int = 6
    batch_size: int = 2
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 100
    max_iters_per_epoch: int | None = None
    copy_paste_prob: float = 0.5
    checkpoint_every: int = 50
    seed: int = 0
    loader_workers: int = 0
    depth_lr_factor: float = 20.0    # the depth stem of an RGB-D model learns this much faster: it starts at zero


def _collate(batch):
    return tuple(zip(*batch))


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return 0.1 + 0.9 * step / max(1, warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def label_map(catalog: Catalog, object_names: list[str]) -> dict[int, int] | None:
    """BOP obj_id -> model label (1-based position in ``object_names``); None for a class-agnostic
    model (``[ANY_PART]``: every part is label 1)."""
    if object_names == [segmentation.ANY_PART]:
        return None
    return {catalog.get(n).obj_id: k + 1 for k, n in enumerate(object_names)}


def init_from(model: torch.nn.Module, config: SegConfig, path: Path) -> str:
    """Copy the weights of the segmentation checkpoint at ``path`` into ``model``; returns what was done.

    A checkpoint for other objects (or a stripped float16 one) will do: every weight whose name and
    shape match is copied, so a new part starts from an existing part's detector instead of ImageNet.
    The architecture must match; the input size may differ (a model trained on 480-pixel images can
    be fine-tuned on larger ones), and an RGB model can start an RGB-D one (``depth_input``).
    """
    raw = checkpoint.load(path, segmentation.KIND)
    free = (*INFERENCE_ONLY_FIELDS, 'depth_input')     # an RGB model starts an RGB-D one: its depth stem at zero
    theirs = {k: v for k, v in asdict(SegConfig(**raw['config'])).items() if k not in free}
    ours = {k: v for k, v in asdict(config).items() if k not in free}
    if theirs != ours:
        changed = sorted(k for k in ours if theirs.get(k) != ours[k])
        raise checkpoint.CheckpointError(f'{path}: has another model configuration than this training '
                                         f'({", ".join(changed)})')
    target = model.state_dict()
    copied = {k: v.to(target[k].dtype) for k, v in raw['model'].items() if k in target and v.shape == target[k].shape}
    model.load_state_dict(copied, strict=False)
    skipped = len(target) - len(copied)
    source = raw['config']['object_names']
    return (f'starting from the weights of {path} (trained for {", ".join(source)}): '
            f'{len(copied)} tensors copied' + (f', {skipped} left at their initial values' if skipped else ''))


def train_segmentation(train_splits: list[Path], out: Path, object_names: list[str], catalog: Catalog,
                       config: SegConfig | None = None, train: SegTrainConfig = SegTrainConfig(),
                       validate=None, resume: bool = False, init: Path | None = None,
                       progress: bool = True, log=print, gt_dirs: list[Path | None] | None = None,
                       ) -> checkpoint.TrainState:
    """Train (or resume training) and write the checkpoint at ``out``; returns the final state.

    ``init``: start from the weights of this segmentation checkpoint (see ``init_from``; it may be
    for other objects) with a fresh optimiser and schedule; ignored when resuming.
    ``validate``: optional callable(Segmenter) -> dict of figures, run after each epoch.
    ``gt_dirs``: where each training split's ground truth is, when not in the split (real-emulated shape bins).
    """
    from tqdm import tqdm

    torch.manual_seed(train.seed)
    config = config or SegConfig(object_names=list(object_names))
    labels = label_map(catalog, config.object_names)
    model = build_model(config, pretrained_backbone=True)
    params = {False: [], True: []}    # is it the depth stem's?
    for n, p in model.named_parameters():
        if p.requires_grad:
            params[n.startswith('backbone.depth_stem.')].append(p)
    groups = [{'params': params[False], 'lr_scale': 1.0}] + (
        [{'params': params[True], 'lr_scale': train.depth_lr_factor}] if params[True] else [])
    optimizer = torch.optim.SGD(groups, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay)
    state = checkpoint.TrainState()

    if resume and Path(out).is_file():
        raw = checkpoint.load(out, segmentation.KIND, segmentation.object_fingerprints(catalog, config.object_names))
        state = checkpoint.resume(out, raw, asdict(config), model, optimizer, log)
    elif init is not None:
        log(init_from(model, config, init))

    dataset = SegTrainDataset(BopSegSource(train_splits, labels, gt_dirs=gt_dirs, with_depth=config.depth_input),
                              train.copy_paste_prob, train.seed)
    per_epoch = math.ceil(len(dataset) / train.batch_size)
    if train.max_iters_per_epoch:
        per_epoch = min(per_epoch, train.max_iters_per_epoch)
    total = per_epoch * train.epochs

    def save():
        segmentation.save(out, model, config, catalog, optimizer=optimizer.state_dict(), state=asdict(state),
                          train_config=asdict(train))

    while state.epoch < train.epochs:
        dataset.epoch = state.epoch
        order = np.random.default_rng((train.seed, state.epoch)).permutation(len(dataset))
        batches = [order[i:i + train.batch_size] for i in range(0, len(order), train.batch_size)][:per_epoch]
        model.train()
        bar = tqdm(total=per_epoch, initial=state.iteration, desc=f'epoch {state.epoch + 1}/{train.epochs}',
                   unit='it', disable=not progress)
        loss = torch.tensor(float('nan'))  # an epoch resumed at its very end runs no iteration
        for it in range(state.iteration, per_epoch):
            images, targets = _collate([dataset[int(i)] for i in batches[it]])
            schedule = _lr_factor(state.epoch * per_epoch + it, total, train.warmup_iters)
            for group in optimizer.param_groups:
                group['lr'] = train.lr * group['lr_scale'] * schedule
            losses = model(list(images), list(targets))
            loss = sum(losses.values())
            if not torch.isfinite(loss):
                raise FloatingPointError(f'loss became {loss.item()} at epoch {state.epoch + 1}, iteration {it}')
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            state.iteration = it + 1
            bar.set_postfix(loss=f'{loss.item():.3f}')
            bar.update()
            if state.iteration % train.checkpoint_every == 0:
                save()
        bar.close()
        record = {'epoch': state.epoch + 1, 'loss': loss.item()}
        if validate is not None:
            record.update(validate(segmentation.Segmenter(model, config, score_threshold=0.05)))
            model.train()
        log(' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in record.items()))
        state.history.append(record)
        state.epoch, state.iteration = state.epoch + 1, 0
        save()
    return state
