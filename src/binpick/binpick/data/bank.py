"""The pseudo-label bank: frames the cell saw, with every pose candidate and its verification scores.

It is a BOP split, so the pose trainer reads it like any dataset; one frame per scene folder:

    BANK/bank.json                          format, object, and the scorer its candidates were scored with
    BANK/SSSSSS/rgb/000000.png              colour (and depth/000000.png, metres in a uint16 PNG)
    BANK/SSSSSS/scene_camera.json           intrinsics
    BANK/SSSSSS/candidates.json             per candidate: mask file, T_cam_obj, confidence, scores, model
    BANK/SSSSSS/masks/000000_KKKKKK.png     predicted instance masks
    BANK/in_use.json                        frames a running training job reads (any process)

A frame folder is staged in a hidden temporary folder and renamed into place when complete: a crash or
``kill -9`` at any moment leaves every finished frame readable and no partial one. Disk use is capped;
the oldest frames go first, never the ones a running training job uses.
"""
from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from binpick.data import atomic
from binpick.data.bop import CameraView, write_frame_images, write_mask, write_scene_camera
from binpick.data.errors import DataFormatError
from binpick.data.jsonfields import field, load_json

FORMAT = 'binpick-bank/1'


@dataclass
class Candidate:
    """A pose hypothesis of one instance with its verification scores (``d_geo_m`` metres).

    ``scene_id``/``im_id`` locate its frame in a BOP split (a bank frame is scene ``scene_id``, image 0).
    """

    scene_id: int
    im_id: int
    mask_path: str
    T_cam_obj: list              # 4x4 nested list, metres
    confidence: float
    d_mask: float
    d_image: float
    d_appearance: float
    d_geo_m: float


class PseudoLabelBank:
    """Reader and writer of a bank folder for one object.

    Args:
        root: the bank folder (created when missing).
        object_name: the object its candidates are of; a bank of another object is refused.
        max_bytes: disk cap; ``None`` for none.
        scorer: the settings of the scorer that writes or reads its candidates (``PoseScorer.description``);
            a bank scored with other settings is refused, since its mu + sigma thresholds would mix distances
            of two kinds. A bank that recorded none takes these.
    """

    def __init__(self, root: str | Path, object_name: str, max_bytes: int | None = None,
                 scorer: dict | None = None) -> None:
        self.root, self.object_name, self.max_bytes = Path(root), object_name, max_bytes
        self.protected: set[int] = set()     # frames a running training job reads: never evicted
        self._bytes: int | None = None       # disk use: walked once, then kept up to date by add and evict
        info = self.root / 'bank.json'
        on_disk = load_json(info) if info.is_file() else None
        meta = dict(on_disk or {'format': FORMAT, 'object': object_name})
        got = field(meta, 'object', info, 'bank')
        if got != object_name:
            raise DataFormatError(info, 'object', f'a bank of {got!r}, not {object_name!r}')
        if scorer is not None:
            banked = meta.setdefault('scorer', scorer)     # a bank that recorded none takes these
            if banked != scorer:
                raise DataFormatError(info, 'scorer', f'candidates scored with {banked}, not {scorer}: use those '
                                      'settings (e.g. perceptual) or another bank_dir')
        if meta != on_disk:
            atomic.write_json(info, meta)

    def frame_ids(self) -> list[int]:
        """Complete frames, oldest first."""
        return sorted(int(p.name) for p in self.root.iterdir()
                      if p.is_dir() and p.name.isdigit() and (p / 'candidates.json').is_file())

    def add(self, rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray, masks: list[np.ndarray],
            candidates: list[Candidate], extra: dict | None = None) -> int:
        """Bank one frame (RGB uint8, depth metres, K 3x3) with its candidates, one mask each; returns the
        frame id. The candidates' ``scene_id``/``im_id``/``mask_path`` are filled in here."""
        if len(masks) != len(candidates):
            raise ValueError(f'{len(masks)} masks for {len(candidates)} candidates')
        ids = self.frame_ids()
        frame_id = ids[-1] + 1 if ids else 0
        final = self.root / f'{frame_id:06d}'
        with atomic.staged_folder(final) as tmp:
            write_frame_images(tmp, 0, rgb, depth_m, fsync=False)
            write_scene_camera(tmp / 'scene_camera.json', {0: CameraView(np.asarray(K, dtype=np.float64))})
            stored = []
            for k, (mask, c) in enumerate(zip(masks, candidates)):
                name = f'masks/000000_{k:06d}.png'
                write_mask(tmp / name, mask, fsync=False)
                stored.append({**asdict(c), 'scene_id': frame_id, 'im_id': 0, 'mask_path': name})
            atomic.write_json(tmp / 'candidates.json', {'candidates': stored, **(extra or {})})
        if self._bytes is not None:
            self._bytes += _size(final)
        self.evict()
        return frame_id

    def candidates(self, frame_id: int) -> list[Candidate]:
        """The candidates of one frame, with absolute mask paths."""
        d = self.root / f'{frame_id:06d}'
        path = d / 'candidates.json'
        out = []
        for n, entry in enumerate(field(load_json(path), 'candidates', path, 'frame')):
            try:
                c = Candidate(**entry)
            except TypeError as e:
                raise DataFormatError(path, f'candidates[{n}]', str(e)) from None
            c.mask_path = str(d / c.mask_path)
            out.append(c)
        return out

    def all_candidates(self, frame_ids: list[int] | None = None) -> list[Candidate]:
        return [c for f in (self.frame_ids() if frame_ids is None else frame_ids) for c in self.candidates(f)]

    def mask_paths(self, scene_id: int, im_id: int = 0) -> list[Path]:
        """Mask files of a frame's candidates, in candidate order (the interface of ``MaskStore``)."""
        return [Path(c.mask_path) for c in self.candidates(scene_id)]

    def protect(self, frame_ids: list[int]) -> None:
        """Keep these frames from eviction, in every process using the bank, until :meth:`release`."""
        self.protected = set(frame_ids)
        atomic.write_json(self.root / 'in_use.json', sorted(self.protected), indent=None)

    def release(self) -> None:
        self.protected = set()
        (self.root / 'in_use.json').unlink(missing_ok=True)

    def _in_use(self) -> set[int]:
        path = self.root / 'in_use.json'
        try:
            return self.protected | {int(f) for f in load_json(path)}
        except (FileNotFoundError, DataFormatError, TypeError, ValueError):
            return set(self.protected)

    def disk_bytes(self) -> int:
        """Bytes the bank uses on disk. Walked on the first call only: this object's adds and evictions keep
        it up to date (one process, the recorder, writes frames)."""
        if self._bytes is None:
            self._bytes = _size(self.root)
        return self._bytes

    def evict(self) -> list[int]:
        """Delete the oldest frames (not protected) until the bank fits its cap; returns them."""
        if self.max_bytes is None:
            return []
        gone, used, protected = [], self.disk_bytes(), self._in_use()
        for frame_id in self.frame_ids()[:-1]:          # never the frame just written
            if used <= self.max_bytes:
                break
            if frame_id in protected:
                continue
            d = self.root / f'{frame_id:06d}'
            size = _size(d)
            (d / 'candidates.json').unlink()              # the frame stops counting first
            shutil.rmtree(d, ignore_errors=True)
            used -= size
            gone.append(frame_id)
        self._bytes = used
        return gone


def _size(folder: Path) -> int:
    """Bytes of the files below ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob('*') if p.is_file())
