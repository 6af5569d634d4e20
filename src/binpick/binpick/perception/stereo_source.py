"""Where a stereo camera's left/right pairs come from: a folder of recorded pairs or two capture devices.
Both return rectified RGB pairs (HxWx3 uint8) or ``None`` when no pair is available now."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from binpick.data.errors import DataFormatError

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataFormatError(path, '', 'not a readable image')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class FolderSource:
    """Pairs ``FOLDER/left/NAME`` and ``FOLDER/right/NAME`` in name order; ``loop`` starts over at the end."""

    def __init__(self, folder: Path, loop: bool = True) -> None:
        left, right = Path(folder) / 'left', Path(folder) / 'right'
        for d in (left, right):
            if not d.is_dir():
                raise DataFormatError(d, '', 'missing folder of stereo images (expected left/ and right/)')
        names = sorted(p.name for p in left.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        unpaired = [n for n in names if not (right / n).is_file()]
        if not names or unpaired:
            raise DataFormatError(right, unpaired[0] if unpaired else '', 'no matching right image' if unpaired
                                  else 'no images')
        self.left, self.right, self.names, self.loop, self.index = left, right, names, loop, 0

    def read(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self.index >= len(self.names):
            if not self.loop:
                return None
            self.index = 0
        name = self.names[self.index]
        self.index += 1
        return _read_rgb(self.left / name), _read_rgb(self.right / name)

    def close(self) -> None:
        pass


class CaptureSource:
    """Two OpenCV captures (device index like ``"0"`` or a device path like ``/dev/video2``), grabbed
    together so the pair is as close in time as the devices allow."""

    def __init__(self, left: str, right: str) -> None:
        self.caps = []
        for name in (left, right):
            cap = cv2.VideoCapture(int(name) if str(name).isdigit() else str(name))
            if not cap.isOpened():
                self.close()
                raise OSError(f'cannot open capture device {name!r}')
            self.caps.append(cap)

    def read(self) -> tuple[np.ndarray, np.ndarray] | None:
        if not all(cap.grab() for cap in self.caps):
            return None
        frames = [cap.retrieve()[1] for cap in self.caps]
        if any(f is None for f in frames):
            return None
        return tuple(cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames)

    def close(self) -> None:
        for cap in self.caps:
            cap.release()
