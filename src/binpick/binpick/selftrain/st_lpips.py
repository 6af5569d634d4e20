"""Shift-tolerant LPIPS with its AlexNet trunk (Ghildyal & Liu, ECCV 2022): the learned perceptual
distance of paper Eq. 4 with every weight shipped on the package index.

The weights (AlexNet trunk with blur-pool downsampling and the five learned linear heads, 9.9 MB) come
from the ``stlpips-pytorch`` wheel, file ``weights/vST0.0/alex_shift_tolerant.pth``; they are read with
``weights_only=True`` into the network defined here, so nothing of that package is imported and nothing
is downloaded. The layer names match the file's keys, which are loaded strictly.
"""
from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

WEIGHTS_PACKAGE = 'stlpips_pytorch'
WEIGHTS_FILE = 'weights/vST0.0/alex_shift_tolerant.pth'
CHANNELS = (64, 192, 384, 256, 256)


def weights_path() -> Path:
    """Where the installed ``stlpips-pytorch`` wheel keeps the AlexNet weights (the file may be missing)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f'st-lpips-alex needs the {WEIGHTS_PACKAGE.replace("_", "-")} package '
                                f'(its {WEIGHTS_FILE}); it is installed by make setup')
    return Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE


class BlurPool(nn.Module):
    """Anti-aliased stride-2 downsampling: reflection pad 2, then a [1 2 1]^2 / 16 filter per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        a = torch.tensor([1.0, 2.0, 1.0])
        filt = a[:, None] * a[None, :]
        self.register_buffer('filt', (filt / filt.sum())[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode='reflect'), self.filt, stride=2, groups=x.shape[1])


def _slice(layers: dict[int, nn.Module]) -> nn.Sequential:
    net = nn.Sequential()
    for index, layer in layers.items():
        net.add_module(str(index), layer)
    return net


class ShiftTolerantAlexNet(nn.Module):
    """The five feature levels (relu1..relu5) of the shift-tolerant AlexNet; indices as in the weights."""

    def __init__(self) -> None:
        super().__init__()
        relu = nn.ReLU(inplace=True)
        self.slice1 = _slice({0: nn.Conv2d(3, 64, 11, stride=1, padding=2), 1: BlurPool(64), 2: relu})
        self.slice2 = _slice({3: nn.MaxPool2d(3, stride=1), 4: BlurPool(64), 5: nn.Conv2d(64, 192, 5, padding=2),
                              6: relu})
        self.slice3 = _slice({7: nn.MaxPool2d(3, stride=1), 8: BlurPool(192), 9: nn.Conv2d(192, 384, 3, padding=1),
                              10: relu})
        self.slice4 = _slice({11: nn.Conv2d(384, 256, 3, padding=1), 12: relu})
        self.slice5 = _slice({13: nn.Conv2d(256, 256, 3, padding=1), 14: relu})

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        levels = []
        for stage in (self.slice1, self.slice2, self.slice3, self.slice4, self.slice5):
            x = stage(x)
            levels.append(x)
        return levels


class STLPIPS(nn.Module):
    """d(a, b) for (B, 3, H, W) images in [0, 1] -> (B,) distances; 0 for identical inputs."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.register_buffer('shift', torch.zeros(1, 3, 1, 1))
        self.register_buffer('scale', torch.ones(1, 3, 1, 1))
        self.net = ShiftTolerantAlexNet()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        self.load(path or weights_path())
        self.eval()

    def load(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f'{path}: ST-LPIPS weights missing (reinstall stlpips-pytorch)')
        try:
            state = torch.load(path, map_location='cpu', weights_only=True)
            renamed = {'shift': state.pop('scaling_layer.shift'), 'scale': state.pop('scaling_layer.scale')}
            for i in range(len(CHANNELS)):
                renamed[f'lins.{i}.weight'] = state.pop(f'lin{i}.model.1.weight')
            renamed.update(state)
            self.load_state_dict(renamed, strict=True)
        except (RuntimeError, KeyError, OSError, EOFError, pickle.UnpicklingError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f'{path}: not the ST-LPIPS AlexNet weights ({reason})') from None

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        x = (torch.cat([a, b]) * 2 - 1 - self.shift) / self.scale
        total = torch.zeros(len(a))
        for lin, f in zip(self.lins, self.net(x)):
            f = f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total += lin((f[:len(a)] - f[len(a):]).pow(2)).mean(dim=(1, 2, 3))
        return total
