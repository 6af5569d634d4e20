"""The pose network: RGB crop features fused with a point cloud of the masked depth (DenseFusion-
style per-point fusion), predicting (paper Appendix A; Tian et al., ICRA 2020):

- for each of the 60 icosahedral rotation anchors a quaternion deviation and an uncertainty sigma.
  The deviation is bounded to MAX_DEVIATION_RAD (a little more than the 44.3 deg covering radius of
  the 60 anchors): each anchor can reach the rotations of its own cell, so a small sigma singles out
  the anchor whose cell holds the answer (unbounded deviations let every anchor regress the same
  rotation and sigma stops telling them apart);
- for each point a unit vector towards the object centre (translation by RANSAC voting).

Frames: points and rotations are in the camera frame (OpenCV), points centred on their mean, metres.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from binpick.perception.efficientnet_lite import efficientnet_lite0
from binpick.perception.pose.anchors import icosahedral_rotations

MAX_DEVIATION_RAD = 0.85
POINT_SCALE = 20.0       # points enter the network in units of 5 cm, the size of the parts, not metres


@dataclass
class PoseNetConfig:
    """Sizes of the network's inputs and layers."""

    object_name: str = ''
    n_points: int = 512
    crop_px: int = 64
    point_dim: int = 128
    global_dim: int = 512


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (x, y, z, w), normalised here -> (..., 3, 3) rotations."""
    q = q / q.norm(dim=-1, keepdim=True).clamp(min=1e-9)
    x, y, z, w = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], dim=-1).reshape(q.shape[:-1] + (3, 3))


def bounded_deviation(raw: torch.Tensor, max_angle: float = MAX_DEVIATION_RAD) -> torch.Tensor:
    """(..., 3) unbounded outputs -> (..., 4) unit quaternions (x, y, z, w) of rotations of at most
    ``max_angle`` radians (axis-angle of length max_angle * tanh(|raw|))."""
    norm = raw.norm(dim=-1, keepdim=True)
    half = 0.5 * max_angle * torch.tanh(norm)
    axis = raw / norm.clamp(min=1e-9)
    return torch.cat([axis * torch.sin(half), torch.cos(half)], dim=-1)


def pointwise(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``weight`` (O, C) applied at every point of ``x`` (B, C, N): (B, O, N), a batched matrix product."""
    return torch.bmm(weight.expand(len(x), -1, -1), x)


class Pointwise(nn.Conv1d):
    """A 1x1 Conv1d on (B, C, N) computed as a batched matrix product: the same weights and result, on one CPU
    thread at the cell's sizes (30 parts of 512 points) 1.5 times as fast as the convolution (156 against
    about 240 ms a frame; the whole network about 10 % faster)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pointwise(self.weight[:, :, 0], x).add_(self.bias[:, None])


def _mlp(*dims: int) -> nn.Sequential:
    layers = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [Pointwise(a, b), nn.GroupNorm(8, b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class PoseNet(nn.Module):
    """Inputs per instance: an RGB crop, N points (camera frame, centred), their RGB and crop coordinates."""

    def __init__(self, config: PoseNetConfig, pretrained_backbone: bool = True) -> None:
        super().__init__()
        self.config = config
        body = efficientnet_lite0(pretrained=pretrained_backbone)
        # ImageNet-initialised: stem and the first three blocks (stride 4, 24 channels) give per-point
        # colour features; the next eight (stride 16, 112 channels), pooled, describe the whole crop
        self.image = nn.Sequential(body._conv_stem, body._bn0, nn.ReLU6(inplace=True), *body._blocks[:3])
        self.image_deep = nn.Sequential(*body._blocks[3:11])
        self.point = _mlp(6, 64, config.point_dim)
        self.fuse = _mlp(config.point_dim + 24, 256, 256)
        self.glob = _mlp(256, config.global_dim)
        self.anchor_head = nn.Sequential(nn.Linear(config.global_dim + 112, 256), nn.ReLU(inplace=True),
                                         nn.Linear(256, 60 * 4))
        self.vector_head = nn.Sequential(_mlp(256 + config.global_dim, 256, 128), Pointwise(128, 3))
        with torch.no_grad():  # start near zero deviation from each anchor
            self.anchor_head[-1].bias.zero_()
            self.anchor_head[-1].weight.mul_(0.1)
        # rebuilt exactly at construction, never stored: a float16 (stripped) copy is not orthonormal
        self.register_buffer('anchors', torch.from_numpy(icosahedral_rotations()).float(), persistent=False)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                # the ImageNet weights come with TF's slow momentum (0.01): running statistics would lag
                # the fine-tuned weights and the net would fail in eval mode; track them closely instead
                m.momentum = 0.1

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As nn.Module's; checkpoints written before the anchors left the state still load (their
        stored, possibly float16, anchors are ignored)."""
        state_dict = {k: v for k, v in state_dict.items() if k != 'anchors'}
        return super().load_state_dict(state_dict, strict, assign)

    def forward(self, crop: torch.Tensor, points: torch.Tensor, point_rgb: torch.Tensor,
                point_uv: torch.Tensor) -> dict[str, torch.Tensor]:
        """Args:
            crop: (B, 3, S, S) ImageNet-normalised RGB crop.
            points: (B, N, 3) centred points, metres.
            point_rgb: (B, N, 3) colour of each point in [0, 1].
            point_uv: (B, N, 2) each point's position in the crop, in [-1, 1] (grid_sample order x, y).

        Returns:
            ``R`` (B, 60, 3, 3) rotation at each anchor, ``sigma`` (B, 60), ``log_sigma`` (B, 60),
            ``vectors`` (B, N, 3) unit.
        """
        fmap = self.image(crop)
        pix = nn.functional.grid_sample(fmap, point_uv[:, :, None, :], align_corners=False)[..., 0]  # (B, 24, N)
        f = self.point(torch.cat([points * POINT_SCALE, point_rgb], dim=-1).transpose(1, 2))
        f = self.fuse(torch.cat([f, pix], dim=1))
        g = self.glob(f).max(dim=-1).values
        crop_code = self.image_deep(fmap).mean(dim=(2, 3))
        out = self.anchor_head(torch.cat([g, crop_code], dim=1)).view(-1, 60, 4)
        R = self.anchors[None] @ quaternion_to_matrix(bounded_deviation(out[..., :3]))
        log_sigma = out[..., 3].clamp(-12.0, 6.0)   # log-sigma output: even steps at every scale
        v = self._vectors(f, g).transpose(1, 2)
        return {'R': R, 'sigma': log_sigma.exp(), 'log_sigma': log_sigma,
                'vectors': v / v.norm(dim=-1, keepdim=True).clamp(min=1e-9)}

    def _vectors(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """The vector head on each point's features ``f`` (B, C, N) joined with the global ``g`` (B, G). Its
        first layer is applied to the two parts apart, the same sum: the global part once per instance
        rather than once per point (a third of the network's arithmetic)."""
        first = self.vector_head[0][0]
        c = f.shape[1]
        h = pointwise(first.weight[:, :c, 0], f) + (first.weight[:, c:, 0] @ g[:, :, None] + first.bias[:, None])
        return self.vector_head[1](self.vector_head[0][1:](h))


def ranked_rotations(R: torch.Tensor, sigma: torch.Tensor, k: int = 1) -> list[tuple[np.ndarray, float]]:
    """The rotations of the ``k`` most certain anchors, most certain first, each with a confidence in
    [0, 1] (its share of 1/sigma)."""
    inv = 1.0 / sigma
    share = inv / inv.sum()
    order = torch.argsort(inv, descending=True)[:k].tolist()
    return [(R[i].detach().cpu().numpy().astype(np.float64), float(share[i])) for i in order]
