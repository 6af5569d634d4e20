"""The offline EfficientNet-Lite0 loads the shipped ImageNet weights and really classifies."""
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import torch

from binpick.perception.efficientnet_lite import IMAGENET_MEAN, IMAGENET_STD, RETURN_CHANNELS, efficientnet_lite0

MILITARY_UNIFORM = 652  # ImageNet class of matplotlib's sample photo of Grace Hopper


def test_pretrained_weights_classify_a_photo():
    path = Path(matplotlib.get_data_path()) / 'sample_data' / 'grace_hopper.jpg'
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    x = torch.from_numpy((img - IMAGENET_MEAN) / IMAGENET_STD).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        probs = efficientnet_lite0().eval()(x).softmax(1)[0]
        untrained = efficientnet_lite0(pretrained=False).eval()(x).softmax(1)[0]
    assert int(probs.argmax()) == MILITARY_UNIFORM
    assert float(untrained[MILITARY_UNIFORM]) < 0.05


def test_feature_pyramid_strides_and_channels():
    feats = efficientnet_lite0(pretrained=False).features(torch.zeros(1, 3, 128, 160))
    assert [f.shape[1] for f in feats.values()] == RETURN_CHANNELS
    assert [tuple(f.shape[2:]) for f in feats.values()] == [(32, 40), (16, 20), (8, 10), (4, 5)]
