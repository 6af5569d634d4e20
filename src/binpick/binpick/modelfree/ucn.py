"""A UCN-style network for unseen object instance segmentation (Xiang et al., CoRL 2020), sized for a CPU.

Two branches read one RGB-D frame: RGB through EfficientNet-Lite0 (the ImageNet weights of the pip
package; blocks to stride 16), and the back-projected points (camera frame, metres, depth-centred, with a
validity channel) through a small convolutional encoder. They are fused at strides 8, 4 and 2 in a
top-down decoder that predicts, at the input resolution, a unit-length embedding per pixel (pixels of
one part close together, parts and background apart; ``ucn_loss``) and a foreground logit.
``modelfree.mean_shift`` turns the embeddings into instances.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from binpick.perception.efficientnet_lite import IMAGENET_MEAN, IMAGENET_STD, efficientnet_lite0

RGB_TAPS = {0: 2, 2: 4, 4: 8, 10: 16}      # EfficientNet-Lite0 block index -> stride of its output
RGB_CHANNELS = {2: 16, 4: 24, 8: 40, 16: 112}
XYZ_CHANNELS = {2: 24, 4: 48, 8: 96}


@dataclass(frozen=True)
class UcnConfig:
    """Architecture and input settings (saved in every checkpoint; the clustering's are
    ``mean_shift.ClusterConfig``, chosen after training)."""

    embedding_dim: int = 16
    decoder_channels: int = 64
    input_scale: float = 0.75         # frames are resized by this before the network (0.75: 480x360)
    frozen_blocks: int = 2            # first EfficientNet blocks kept at their ImageNet weights
    branch_heads: bool = False        # per-branch embedding heads, for the report's per-branch loss terms


def conv_block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.GroupNorm(8, c_out),
                         nn.ReLU(inplace=True))


class XyzEncoder(nn.Module):
    """Points (4 channels: x, y, z - median z, valid) to features at strides 2, 4 and 8."""

    def __init__(self) -> None:
        super().__init__()
        c2, c4, c8 = XYZ_CHANNELS[2], XYZ_CHANNELS[4], XYZ_CHANNELS[8]
        self.s2 = nn.Sequential(conv_block(4, c2, 2), conv_block(c2, c2))
        self.s4 = nn.Sequential(conv_block(c2, c4, 2), conv_block(c4, c4))
        self.s8 = nn.Sequential(conv_block(c4, c8, 2), conv_block(c8, c8))

    def forward(self, xyz: torch.Tensor) -> dict[int, torch.Tensor]:
        f2 = self.s2(xyz)
        f4 = self.s4(f2)
        return {2: f2, 4: f4, 8: self.s8(f4)}


class UcnNet(nn.Module):
    """(B,3,H,W) RGB in [0, 1] and (B,4,H,W) points -> embeddings (B,D,H,W, unit length) and foreground
    logits (B,1,H,W); H and W multiples of 16. With ``branch_heads``, also each branch's own embeddings."""

    def __init__(self, config: UcnConfig, pretrained: bool = True) -> None:
        super().__init__()
        self.config = config
        body = efficientnet_lite0(pretrained=pretrained)
        self.stem = nn.Sequential(body._conv_stem, body._bn0, nn.ReLU6(inplace=True))
        self.blocks = nn.ModuleList(body._blocks[:max(RGB_TAPS) + 1])
        for p in self.stem.parameters():
            p.requires_grad_(False)
        for block in self.blocks[:config.frozen_blocks]:
            for p in block.parameters():
                p.requires_grad_(False)
        self.xyz = XyzEncoder()
        c = config.decoder_channels
        self.lateral16 = nn.Conv2d(RGB_CHANNELS[16], c, 1)
        self.lateral = nn.ModuleDict({str(s): nn.Conv2d(RGB_CHANNELS[s] + XYZ_CHANNELS[s], c, 1) for s in (8, 4, 2)})
        self.smooth = nn.ModuleDict({str(s): conv_block(c, c) for s in (8, 4, 2)})
        self.embed = nn.Conv2d(c, config.embedding_dim, 1)
        self.foreground = nn.Conv2d(c, 1, 1)
        if config.branch_heads:
            self.embed_rgb = nn.Conv2d(RGB_CHANNELS[4], config.embedding_dim, 1)
            self.embed_xyz = nn.Conv2d(XYZ_CHANNELS[4], config.embedding_dim, 1)
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> UcnNet:
        """The backbone's batch-norm statistics stay at their ImageNet values (small batches)."""
        super().train(mode)
        for m in [*self.stem.modules(), *self.blocks.modules()]:
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def forward(self, rgb: torch.Tensor, xyz: torch.Tensor) -> dict[str, torch.Tensor]:
        h, w = rgb.shape[-2:]
        if h % 16 or w % 16:
            raise ValueError(f'input {w}x{h}: width and height must be multiples of 16')
        x = self.stem((rgb - self.mean) / self.std)
        rgb_f = {}
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in RGB_TAPS:
                rgb_f[RGB_TAPS[i]] = x
        xyz_f = self.xyz(xyz)
        top = self.lateral16(rgb_f[16])
        for s in (8, 4, 2):
            fused = self.lateral[str(s)](torch.cat([rgb_f[s], xyz_f[s]], dim=1))
            top = self.smooth[str(s)](fused + F.interpolate(top, size=fused.shape[-2:], mode='bilinear',
                                                            align_corners=False))
        full = F.interpolate(top, size=(h, w), mode='bilinear', align_corners=False)
        out = {'embedding': F.normalize(self.embed(full), dim=1), 'foreground': self.foreground(full)}
        if self.config.branch_heads:
            for name, f in (('embedding_rgb', self.embed_rgb(rgb_f[4])), ('embedding_xyz', self.embed_xyz(xyz_f[4]))):
                out[name] = F.normalize(F.interpolate(f, size=(h, w), mode='bilinear', align_corners=False), dim=1)
        return out


def network_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The network's input size for a frame: scaled, rounded to multiples of 16 (width, height)."""
    return max(16, int(round(width * scale / 16)) * 16), max(16, int(round(height * scale / 16)) * 16)


def points_input(depth_m: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(4,H,W) float32 network input from a depth image (metres, 0 = none) and its intrinsics: x, y and
    z minus the median depth (camera frame, decimetres) and validity."""
    h, w = depth_m.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    z = depth_m.astype(np.float32)
    valid = z > 0
    z_ref = float(np.median(z[valid])) if valid.any() else 0.0
    x = (u - K[0, 2]) / K[0, 0] * z
    y = (v - K[1, 2]) / K[1, 1] * z
    out = np.stack([x, y, np.where(valid, z - z_ref, 0.0), valid]).astype(np.float32)
    out[:3] *= 10.0
    return out
