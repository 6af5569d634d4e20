"""Training of the UCN on class-agnostic bins (``binpick train-uois``): resumable, with progress, a
checkpoint every ``checkpoint_every`` iterations, and F1 on held-out frames after each epoch."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from binpick.data.bop import BopSplit
from binpick.data.errors import DataFormatError
from binpick.modelfree import uois
from binpick.modelfree.ucn import UcnConfig, UcnNet, network_size
from binpick.modelfree.ucn_loss import embedding_loss, foreground_loss
from binpick.perception import checkpoint

MIN_VISIBLE_PX = 30


@dataclass(frozen=True)
class UoisTrainConfig:
    epochs: int = 4
    iterations_per_epoch: int = 500
    batch_size: int = 2
    lr: float = 1e-3
    weight_decay: float = 1e-4
    branch_loss_weight: float = 0.0   # the report's per-branch terms (needs UcnConfig.branch_heads)
    checkpoint_every: int = 50
    seed: int = 0


@dataclass
class UoisSample:
    """Network inputs of one frame and its labels ((h,w) long: 0 background, k > 0 one part each)."""

    rgb: np.ndarray
    points: np.ndarray
    labels: np.ndarray


class UoisFrames:
    """Every frame with ground truth of some BOP splits (``gt_dirs``: where a real domain keeps it)."""

    def __init__(self, split_dirs: list[Path], gt_dirs: list[Path | None] | None = None) -> None:
        self.splits = [BopSplit(d, g) for d, g in zip(split_dirs, gt_dirs or [None] * len(split_dirs))]
        self.index = [(k, s, i) for k, split in enumerate(self.splits) for s in split.scene_ids()
                      if split.has_gt(s) for i in split.image_ids(s)]
        if not self.index:
            raise DataFormatError(split_dirs[0], '', 'no frames with ground truth in '
                                  + ', '.join(str(d) for d in split_dirs))

    def __len__(self) -> int:
        return len(self.index)

    def sample(self, i: int, scale: float, rng: np.random.Generator | None = None) -> UoisSample:
        """Frame ``i`` at the network's size; with ``rng``, randomly flipped and re-lit."""
        k, scene, im = self.index[i]
        frame = self.splits[k].frame(scene, im, with_masks=True)
        rgb, depth_m, K = frame.rgb, frame.depth_m, frame.camera.K.copy()
        h, w = depth_m.shape
        labels = np.zeros((h, w), np.int64)
        for j, mask in enumerate(frame.masks_visib):
            if mask.sum() >= MIN_VISIBLE_PX:
                labels[mask] = j + 1
        if rng is not None:
            if rng.random() < 0.5:
                rgb, depth_m, labels = rgb[:, ::-1], depth_m[:, ::-1], labels[:, ::-1]
                K[0, 2] = w - 1 - K[0, 2]
            gain, offset = rng.uniform(0.7, 1.3), rng.uniform(-25, 25)
            rgb = np.clip(rgb.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)
        rgb_in, points_in = uois.network_inputs(np.ascontiguousarray(rgb), np.ascontiguousarray(depth_m), K, scale)
        size = network_size(w, h, scale)
        labels_in = cv2.resize(np.ascontiguousarray(labels).astype(np.int32), size, interpolation=cv2.INTER_NEAREST)
        return UoisSample(rgb_in, points_in, labels_in.astype(np.int64))


def batch_loss(model: UcnNet, samples: list[UoisSample], branch_weight: float = 0.0) -> dict[str, torch.Tensor]:
    """Mean intra, inter and foreground losses of a batch (and the branch terms when asked)."""
    rgb = torch.from_numpy(np.stack([s.rgb for s in samples]))
    points = torch.from_numpy(np.stack([s.points for s in samples]))
    labels = torch.from_numpy(np.stack([s.labels for s in samples]))
    out = model(rgb, points)
    terms: dict[str, list[torch.Tensor]] = {'intra': [], 'inter': [], 'neighbours': [], 'foreground': []}
    for b in range(len(samples)):
        for name, value in zip(('intra', 'inter', 'neighbours'), embedding_loss(out['embedding'][b], labels[b])):
            terms[name].append(value)
        terms['foreground'].append(foreground_loss(out['foreground'][b, 0], labels[b]))
        if branch_weight > 0:
            for name in ('embedding_rgb', 'embedding_xyz'):
                terms.setdefault('branches', []).append(branch_weight * sum(embedding_loss(out[name][b], labels[b])))
    return {k: torch.stack(v).mean() for k, v in terms.items()}


def train_uois(split_dirs: list[Path], out: Path, gt_dirs: list[Path | None] | None = None,
               config: UcnConfig | None = None, train: UoisTrainConfig | None = None,
               validate: Callable[[uois.UoisSegmenter], dict] | None = None, resume: bool = False,
               init: Path | None = None, progress: bool = True, log=print) -> checkpoint.TrainState:
    """Train (or resume) a UCN on the frames of ``split_dirs``; writes the checkpoint ``out``. ``init``: start
    from the weights of this UOIS checkpoint (same architecture) with a fresh optimiser; ignored when resuming."""
    from tqdm import tqdm

    config, train = config or UcnConfig(), train or UoisTrainConfig()
    if train.branch_loss_weight > 0 and not config.branch_heads:
        raise ValueError('branch_loss_weight needs a model with branch_heads')
    torch.manual_seed(train.seed)
    model = UcnNet(config, pretrained=True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay)
    state = checkpoint.TrainState()
    if resume and Path(out).is_file():
        state = checkpoint.resume(out, checkpoint.load(out, uois.KIND), asdict(config), model, optimizer, log)
    elif init is not None:
        start = uois.UoisSegmenter.load(init)
        if start.config != config:
            raise checkpoint.CheckpointError(f'{init}: another model configuration ({start.config}); cannot start '
                                             'from it')
        model.load_state_dict(start.model.state_dict())
        log(f'starting from the weights of {init}')
    frames = UoisFrames(split_dirs, gt_dirs)
    total = train.epochs * train.iterations_per_epoch

    def save() -> None:
        uois.save(out, model, config, optimizer=optimizer.state_dict(), state=asdict(state), train_config=asdict(train))

    while state.epoch < train.epochs:
        rng = np.random.default_rng((train.seed, state.epoch, state.iteration))
        model.train()
        bar = tqdm(total=train.iterations_per_epoch, initial=state.iteration, unit='it', disable=not progress,
                   desc=f'epoch {state.epoch + 1}/{train.epochs}')
        losses: dict[str, torch.Tensor] = {}
        for it in range(state.iteration, train.iterations_per_epoch):
            step = state.epoch * train.iterations_per_epoch + it
            for group in optimizer.param_groups:      # cosine schedule over the whole run
                group['lr'] = train.lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
            picks = rng.integers(len(frames), size=train.batch_size)
            losses = batch_loss(model, [frames.sample(int(i), config.input_scale, rng) for i in picks],
                                train.branch_loss_weight)
            loss = sum(losses.values())
            if not torch.isfinite(loss):
                raise FloatingPointError(f'loss became {loss.item()} at epoch {state.epoch + 1}, iteration {it}')
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            state.iteration = it + 1
            bar.set_postfix({k: f'{v.item():.3f}' for k, v in losses.items()})
            bar.update()
            if state.iteration % train.checkpoint_every == 0:
                save()
        bar.close()
        record = {'epoch': state.epoch + 1, **{k: v.item() for k, v in losses.items()}}
        if validate is not None:
            record.update(validate(uois.UoisSegmenter(model, config)))
        log(' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in record.items()))
        state.history.append(record)
        state.epoch, state.iteration = state.epoch + 1, 0
        save()
    return state
