"""Pose network shapes and parameterisation."""
import math

import numpy as np
import pytest
import torch

from binpick.geometry import axis_angle, quat_from_matrix
from binpick.perception.pose.network import Pointwise, PoseNet, PoseNetConfig, quaternion_to_matrix, ranked_rotations


def test_quaternion_to_matrix_matches_numpy():
    R = axis_angle(np.array([0.2, -1.0, 0.5]), 1.1)
    q = torch.from_numpy(quat_from_matrix(R) * 3.0)          # not normalised on purpose
    assert np.allclose(quaternion_to_matrix(q).numpy(), R, atol=1e-9)


def test_outputs_start_at_the_anchors():
    torch.manual_seed(0)
    net = PoseNet(PoseNetConfig('x', n_points=64, crop_px=32), pretrained_backbone=False)
    out = net(torch.randn(2, 3, 32, 32), torch.randn(2, 64, 3) * 0.02, torch.rand(2, 64, 3),
              torch.rand(2, 64, 2) * 2 - 1)
    assert out['R'].shape == (2, 60, 3, 3) and out['sigma'].shape == (2, 60) and out['vectors'].shape == (2, 64, 3)
    assert torch.allclose(out['vectors'].norm(dim=-1), torch.ones(2, 64), atol=1e-5)
    assert (out['sigma'] > 0).all()
    # small initial deviations: each anchor's rotation stays within a few degrees of the anchor
    dev = net.anchors[None].transpose(-1, -2) @ out['R']
    angle = torch.arccos(((dev.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1))
    assert angle.max().item() < math.radians(20)


def test_ranked_rotations_go_from_the_smallest_sigma_up():
    z90 = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    R = torch.stack([torch.eye(3), z90, z90 @ z90])
    (first, c1), (second, c2) = ranked_rotations(R, torch.tensor([2.0, 0.5, 1.0]), k=2)
    assert np.allclose(first, R[1].numpy()) and c1 == pytest.approx(2 / 3.5)
    assert np.allclose(second, R[2].numpy()) and c2 == pytest.approx(1 / 3.5)


def test_deviations_stay_inside_the_anchor_cell():
    from binpick.perception.pose.network import MAX_DEVIATION_RAD, bounded_deviation
    q = bounded_deviation(torch.randn(1000, 3) * 50)
    R = quaternion_to_matrix(q)
    angle = torch.arccos(((R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1))
    assert angle.max().item() <= MAX_DEVIATION_RAD + 1e-5
    assert angle.max().item() > 0.95 * MAX_DEVIATION_RAD        # and reaches the bound
    assert torch.allclose(bounded_deviation(torch.zeros(1, 3)), torch.tensor([[0.0, 0, 0, 1]]))


def test_batch_norm_statistics_follow_training():
    net = PoseNet(PoseNetConfig('x', n_points=64, crop_px=32), pretrained_backbone=False)
    momenta = {m.momentum for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert momenta == {0.1}


def test_the_vector_head_split_is_the_head_on_the_joined_features():
    torch.manual_seed(1)
    net = PoseNet(PoseNetConfig('x', n_points=64, crop_px=32, point_dim=32, global_dim=48), pretrained_backbone=False)
    f, g = torch.randn(3, 256, 64), torch.randn(3, 48)
    joined = net.vector_head(torch.cat([f, g[:, :, None].expand(-1, -1, 64)], dim=1))
    assert torch.allclose(net._vectors(f, g), joined, atol=1e-5)
    net._vectors(f, g).sum().backward()        # and it trains: the first layer's global columns get gradients
    assert net.vector_head[0][0].weight.grad[:, 256:].abs().sum() > 0


def test_pointwise_layers_are_the_1x1_convolution_they_replace():
    torch.manual_seed(2)
    layer = Pointwise(6, 16)
    x = torch.randn(5, 6, 40)
    assert torch.allclose(layer(x), torch.nn.functional.conv1d(x, layer.weight, layer.bias), atol=1e-6)
    assert layer.state_dict()['weight'].shape == (16, 6, 1)     # checkpoints of Conv1d layers load unchanged
