"""Mask R-CNN for bin images with an EfficientNet-Lite0 + FPN backbone (ImageNet weights offline).

With ``SegConfig.depth_input`` the image gets a fourth channel, the depth relief (``depth_relief``), read by a
convolution of its own added to the RGB stem's output; it starts at zero, so an RGB model fine-tunes into an
RGB-D one from where it stands.

Classes are the catalog objects the model is trained for (label k = ``object_names[k-1]``, 0 is
background), so one model can serve a cell that sees several part types.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import torch
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from binpick.perception.efficientnet_lite import IMAGENET_MEAN, IMAGENET_STD, RETURN_CHANNELS, efficientnet_lite0


@dataclass
class SegConfig:
    """Architecture and input size of the segmentation model."""

    object_names: list[str] = field(default_factory=list)
    fpn_channels: int = 96
    mask_head_channels: int = 128
    min_size: int = 480            # input is resized so its short side is min_size (480: 480p as it comes)
    max_size: int = 640            # ... unless its long side would exceed max_size
    anchor_sizes: tuple = (16, 32, 64, 128, 256)
    rpn_post_nms_test: int = 300
    detections_per_image: int = 60
    frozen_blocks: int = 3         # first backbone blocks kept at their ImageNet weights
    mask_threshold: float = 0.5    # a pixel belongs to an instance when its mask probability reaches this
    depth_input: bool = False      # a fourth input channel: the depth relief (``depth_relief``)

    def at_size(self, short_side_px: int) -> SegConfig:
        """This configuration for 4:3 frames resized so their short side is ``short_side_px``."""
        return replace(self, min_size=short_side_px, max_size=short_side_px * 4 // 3)


# Settings that change no weight: a model trained with other values can start a training with these.
INFERENCE_ONLY_FIELDS = ('object_names', 'min_size', 'max_size', 'rpn_post_nms_test', 'detections_per_image',
                         'mask_threshold')


RELIEF_SCALE_M = 0.05      # depth relief of 1.0: this much nearer the camera than the frame's median depth


def depth_relief(depth_m: np.ndarray) -> np.ndarray:
    """HxW float32 input channel of an HxW depth image (metres, 0 = none): how much nearer the camera than
    the frame's median depth each pixel is, in ``RELIEF_SCALE_M``, clipped to [-2, 2]; 0 without depth."""
    valid = depth_m > 0
    if not valid.any():
        return np.zeros(depth_m.shape, np.float32)
    relief = (np.median(depth_m[valid]) - depth_m) / RELIEF_SCALE_M
    return np.where(valid, np.clip(relief, -2.0, 2.0), 0.0).astype(np.float32)


class EfficientNetFPN(nn.Module):
    """Backbone + feature pyramid with the interface torchvision's detectors expect; with ``depth_input``
    the input's fourth channel feeds a stem convolution of its own, zero at the start."""

    def __init__(self, fpn_channels: int, pretrained: bool, frozen_blocks: int, depth_input: bool = False) -> None:
        super().__init__()
        self.body = efficientnet_lite0(pretrained=pretrained)
        stem = self.body._conv_stem
        self.depth_stem = (nn.Conv2d(1, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False)
                           if depth_input else None)
        if self.depth_stem is not None:
            nn.init.zeros_(self.depth_stem.weight)
        del self.body._conv_head, self.body._bn1, self.body._fc
        for p in list(self.body._conv_stem.parameters()) + list(self.body._bn0.parameters()):
            p.requires_grad_(False)
        for block in self.body._blocks[:frozen_blocks]:
            for p in block.parameters():
                p.requires_grad_(False)
        # group norm in the pyramid: the backbone's un-normalised stage outputs are large (|x| ~ 10)
        self.fpn = FeaturePyramidNetwork(RETURN_CHANNELS, fpn_channels, extra_blocks=LastLevelMaxPool(),
                                         norm_layer=partial(nn.GroupNorm, 16))
        self.out_channels = fpn_channels

    def train(self, mode: bool = True) -> EfficientNetFPN:
        """Batch-norm statistics of the backbone stay at their ImageNet values (batches of 2 images
        are too small to estimate them)."""
        super().train(mode)
        for m in self.body.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        if self.depth_stem is None:
            return self.fpn(self.body.features(x))
        return self.fpn(self.body.features(x[:, :3], stem_extra=self.depth_stem(x[:, 3:])))


def build_model(config: SegConfig, pretrained_backbone: bool = True) -> MaskRCNN:
    """The Mask R-CNN of ``config`` (untrained heads; backbone from ImageNet when asked)."""
    backbone = EfficientNetFPN(config.fpn_channels, pretrained_backbone, config.frozen_blocks, config.depth_input)
    mean, std = list(IMAGENET_MEAN), list(IMAGENET_STD)
    if config.depth_input:       # the relief is used as it is
        mean, std = mean + [0.0], std + [1.0]
    anchors = AnchorGenerator(tuple((s,) for s in config.anchor_sizes), ((0.5, 1.0, 2.0),) * len(config.anchor_sizes))
    levels = ['0', '1', '2', '3']
    n_classes = len(config.object_names) + 1
    return MaskRCNN(
        backbone, num_classes=None, box_predictor=FastRCNNPredictor(1024, n_classes), min_size=config.min_size,
        max_size=config.max_size,
        image_mean=mean, image_std=std, rpn_anchor_generator=anchors,
        rpn_post_nms_top_n_test=config.rpn_post_nms_test, rpn_pre_nms_top_n_test=1000,
        box_roi_pool=MultiScaleRoIAlign(levels, 7, 2), mask_roi_pool=MultiScaleRoIAlign(levels, 14, 2),
        mask_head=MaskRCNNHeads(config.fpn_channels, (config.mask_head_channels,) * 4, 1,
                                norm_layer=partial(nn.GroupNorm, 16)),
        mask_predictor=MaskRCNNPredictor(config.mask_head_channels, config.mask_head_channels,
                                         n_classes),
        box_detections_per_img=config.detections_per_image)


def freeze_backbone_for_cpu(model: MaskRCNN, config: SegConfig) -> None:
    """Replace ``model``'s backbone by a frozen TorchScript trace optimised for CPU inference (batch norm
    folded into the convolutions, oneDNN layouts and fusions): about 3 times faster on one core, the same
    features to 1e-4. For inference only (the trace cannot train); single images of any size. Where this
    torch cannot trace it, the model stays as it was."""
    import warnings
    stride = 32
    h = -(-config.min_size // stride) * stride
    w = -(-config.max_size // stride) * stride
    example = torch.zeros(1, 4 if config.depth_input else 3, h, w)
    backbone = model.backbone.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter('ignore')          # torch.jit is deprecated in favour of torch.compile,
            traced = torch.jit.trace(backbone, example, strict=False)   # which needs a C++ compiler at run time
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
            frozen(example)
    except (RuntimeError, AttributeError):
        return
    frozen.out_channels = backbone.out_channels
    model.backbone = frozen
