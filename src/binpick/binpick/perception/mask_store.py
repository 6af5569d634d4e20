"""Predicted instance masks of a BOP split, computed once by the segmentation model and kept as PNGs.

Self-training labels the same unlabeled frames every iteration and evaluation reuses the same test
frames: the masks do not change between iterations, so they are predicted once. Layout:
``ROOT/SSSSSS/IIIIII.json`` (mask files and scores of one frame, written last) next to
``ROOT/SSSSSS/IIIIII_KKKKKK.png``. A killed run resumes at the first frame without its JSON.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from binpick.data import atomic
from binpick.data.bop import BopSplit, read_mask, write_mask
from binpick.data.jsonfields import field, load_json


class MaskStore:
    """Masks of one object in the frames of one split, predicted by a segmenter."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _index(self, scene_id: int, im_id: int) -> Path:
        return self.root / f'{scene_id:06d}' / f'{im_id:06d}.json'

    def has(self, scene_id: int, im_id: int) -> bool:
        return self._index(scene_id, im_id).is_file()

    def mask_paths(self, scene_id: int, im_id: int) -> list[Path]:
        """The PNG files of the frame's masks, best score first."""
        path = self._index(scene_id, im_id)
        names = field(load_json(path), 'masks', path, 'frame')
        return [path.parent / str(n) for n in names]

    def masks(self, scene_id: int, im_id: int) -> list[np.ndarray]:
        return [read_mask(p) for p in self.mask_paths(scene_id, im_id)]

    def fill(self, split: BopSplit, segmenter, object_name: str, progress: bool = True) -> None:
        """Predict the masks of ``object_name`` for every frame of ``split`` not done yet."""
        from tqdm import tqdm
        todo = [(s, i) for s in split.scene_ids() for i in split.image_ids(s) if not self.has(s, i)]
        for scene_id, im_id in tqdm(todo, desc=f'segmenting {split.root}', unit='image', disable=not progress):
            frame = split.frame(scene_id, im_id)
            found = [inst for inst in segmenter.segment(frame.rgb) if inst.object_name == object_name]
            names = []
            for k, inst in enumerate(found):
                name = f'{im_id:06d}_{k:06d}.png'
                write_mask(self.root / f'{scene_id:06d}' / name, inst.mask, fsync=False)
                names.append(name)
            atomic.write_json(self._index(scene_id, im_id),
                              {'masks': names, 'scores': [inst.score for inst in found], 'object': object_name})
