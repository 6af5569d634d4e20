"""Model checkpoints: one file with the model's config, the objects it was trained for (catalog
fingerprints), its weights and, while training, the optimiser state.

Written atomically; read with ``torch.load(weights_only=True)``; refused with a clear message when
truncated, of another kind, or trained for objects whose CAD differs from the catalog's.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from binpick.data import atomic
from binpick.errors import BinpickError


@dataclass
class TrainState:
    """Where a training run stands, saved in its checkpoint: epochs done, iterations done in the
    current epoch, and one record of figures per finished epoch."""

    epoch: int = 0
    iteration: int = 0
    history: list = field(default_factory=list)


class CheckpointError(BinpickError):
    """A checkpoint that cannot be used here."""


def save(path: str | Path, kind: str, payload: dict[str, Any]) -> None:
    """Write ``{'kind': kind, **payload}`` atomically (tensors, numbers, strings, lists, dicts only)."""
    buf = io.BytesIO()
    torch.save({'kind': kind, **payload}, buf)
    atomic.write_bytes(path, buf.getvalue())


def load(path: str | Path, kind: str | tuple[str, ...], objects: dict[str, str] | None = None) -> dict[str, Any]:
    """Read a checkpoint of ``kind`` (or of one of several kinds); with ``objects`` (name -> catalog
    fingerprint), check them.

    Raises:
        CheckpointError: missing, truncated or foreign file; other kind; other objects or CAD.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'{path}: checkpoint does not exist')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated zip, pickle with code, not a torch file ...: one error
        raise CheckpointError(f'{path}: not a readable checkpoint ({type(e).__name__}: {str(e)[:120]})') from None
    kinds = (kind,) if isinstance(kind, str) else kind
    if not isinstance(ckpt, dict) or ckpt.get('kind') not in kinds:
        found = ckpt.get('kind') if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f'{path}: expected a {" or ".join(kinds)} checkpoint, found {found!r}')
    if objects is not None:
        check_objects(path, ckpt, objects)
    return ckpt


def check_objects(path: str | Path, ckpt: dict[str, Any], objects: dict[str, str]) -> None:
    """Refuse a loaded checkpoint trained for other objects, or for CAD that has changed since
    (``objects``: name -> catalog fingerprint). For loaders that learn the objects from the file itself."""
    trained = ckpt.get('objects', {})
    if set(trained) != set(objects):
        raise CheckpointError(f'{path}: trained for objects {sorted(trained)}, not {sorted(objects)}')
    changed = [n for n in objects if trained[n] != objects[n]]
    if changed:
        raise CheckpointError(f'{path}: the CAD of {", ".join(changed)} changed since this model was '
                              'trained (catalog fingerprint differs); retrain it')


def resume(out: str | Path, raw: dict[str, Any], config: dict, model: torch.nn.Module, optimizer,
           log=print) -> TrainState:
    """Continue a training from its checkpoint ``raw`` (read from ``out``): weights and optimiser state into
    ``model`` and ``optimizer``; refuses one trained with another configuration than ``config`` (a dict)."""
    if raw['config'] != config:
        raise CheckpointError(f'{out}: was trained with another model configuration; remove it or train without '
                              '--resume')
    model.load_state_dict(raw['model'])
    optimizer.load_state_dict(raw['optimizer'])
    state = TrainState(**raw['state'])
    log(f'resuming {out} at epoch {state.epoch + 1}, iteration {state.iteration}')
    return state


def strip(path: str | Path, out: str | Path, kind: str, config: dict | None = None) -> None:
    """Write the inference part of a checkpoint to ``out``: no optimiser or training state, weights in
    float16 (loading copies them back into the float32 model). A shipped model is a sixth of the size.
    ``config``: the model configuration to store instead (inference settings changed, e.g. a mask threshold)."""
    raw = load(path, kind)
    payload = {k: v for k, v in raw.items() if k not in ('kind', 'optimizer', 'state', 'train_config')}
    if config is not None:
        payload['config'] = config
    payload['model'] = {k: v.half() if v.is_floating_point() else v for k, v in raw['model'].items()}
    save(out, kind, payload)
