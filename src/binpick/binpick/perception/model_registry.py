"""Versioned pose checkpoints of a cell: the model in service and the ones before it.

    MODELS/pose_v0001.pt     checkpoints, never overwritten
    MODELS/current.json      {"version", "path", "sha256", "metrics"} of the model in service

Publishing copies the checkpoint in atomically, then rewrites ``current.json`` atomically: a crash at any
moment leaves the previous model in service.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from binpick.data import atomic
from binpick.data.jsonfields import field as json_field
from binpick.data.jsonfields import load_json


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class ModelVersion:
    version: int
    path: Path
    sha256: str
    metrics: dict = field(default_factory=dict)


class ModelRegistry:
    """The versioned pose checkpoints in ``root``; ``initial`` is version 0 when nothing is published."""

    def __init__(self, root: str | Path, initial: str | Path | None = None) -> None:
        self.root, self.initial = Path(root), None if initial is None else Path(initial)

    def current(self) -> ModelVersion:
        path = self.root / 'current.json'
        if path.is_file():
            doc = load_json(path)
            get = lambda key: json_field(doc, key, path, 'model')  # noqa: E731
            return ModelVersion(int(get('version')), Path(get('path')), str(get('sha256')),
                                dict(doc.get('metrics', {})))
        if self.initial is None:
            raise FileNotFoundError(f'{path}: no model published and no initial checkpoint given')
        return ModelVersion(0, self.initial, sha256(self.initial))

    def publish(self, checkpoint: str | Path, metrics: dict | None = None) -> ModelVersion:
        """Put ``checkpoint`` in service as the next version; returns it."""
        has_current = (self.root / 'current.json').is_file() or self.initial is not None
        version = (self.current().version if has_current else 0) + 1
        final = self.root / f'pose_v{version:04d}.pt'
        atomic.write_bytes(final, Path(checkpoint).read_bytes())
        model = ModelVersion(version, final, sha256(final), dict(metrics or {}))
        atomic.write_json(self.root / 'current.json', {'version': version, 'path': str(final), 'sha256': model.sha256,
                                                       'metrics': model.metrics})
        return model
