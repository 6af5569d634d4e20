"""Losses of the pose network (paper Appendix A, Eqs. 6-9), in torch, model points in metres.

Shapes: B instances, A rotation anchors, M model points, N observed points.
"""
from __future__ import annotations

import torch


def shape_match_loss(R_pred: torch.Tensor, R_label: torch.Tensor, pts_m: torch.Tensor,
                     symmetric: bool) -> torch.Tensor:
    """ShapeMatch loss (PoseCNN; Eqs. 6 and 7) per rotation pair.

    Args:
        R_pred: (..., 3, 3) predicted rotations.
        R_label: (..., 3, 3) label rotations (broadcastable to ``R_pred``).
        pts_m: (M, 3) model points in the object frame, metres.
        symmetric: Eq. 6 (each label point to its closest predicted point) instead of Eq. 7
            (point to corresponding point).

    Returns:
        (...) mean squared distance / 2, square metres.
    """
    label = pts_m @ R_label.transpose(-1, -2)   # (..., M, 3)
    pred = pts_m @ R_pred.transpose(-1, -2)
    if symmetric:
        d2 = torch.cdist(label, pred).pow(2).min(dim=-1).values
    else:
        d2 = (label - pred).pow(2).sum(dim=-1)
    return 0.5 * d2.mean(dim=-1)


def anchor_loss(R_anchors_pred: torch.Tensor, sigma: torch.Tensor, R_label: torch.Tensor, pts_m: torch.Tensor,
                symmetric: bool, diameter_m: float) -> torch.Tensor:
    """Uncertainty-weighted rotation loss over the anchors (Eq. 8): sum_i ln(sigma_i) + L_i / (d sigma_i).

    Args:
        R_anchors_pred: (B, A, 3, 3) rotation predicted at each anchor (anchor composed with its deviation).
        sigma: (B, A) positive uncertainties.
        R_label: (B, 3, 3) label rotation.
        pts_m, symmetric: as for :func:`shape_match_loss`.
        diameter_m: object diameter d.

    Returns:
        (B,) loss per instance.
    """
    per_anchor = shape_match_loss(R_anchors_pred, R_label[:, None], pts_m, symmetric)   # (B, A)
    return (torch.log(sigma) + per_anchor / (diameter_m * sigma)).sum(dim=-1)


def unit_vector_loss(v_pred: torch.Tensor, v_label: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Smooth-L1 loss between predicted and label unit vectors towards the object centre (Eq. 9).

    Args:
        v_pred, v_label: (B, N, 3).
        valid: (B, N) bool of points that count (default all).

    Returns:
        (B,) mean over valid points of the summed smooth-L1 over x, y, z.
    """
    loss = torch.nn.functional.smooth_l1_loss(v_pred, v_label, reduction='none').sum(dim=-1)
    if valid is None:
        return loss.mean(dim=-1)
    w = valid.float()
    return (loss * w).sum(dim=-1) / w.sum(dim=-1).clamp(min=1.0)


def anchor_classification_loss(log_sigma: torch.Tensor, anchors: torch.Tensor, R_label: torch.Tensor,
                               pts_m: torch.Tensor, symmetric: bool) -> torch.Tensor:
    """Training aid (not in the paper): cross-entropy that makes the anchor nearest to the label (by
    ShapeMatch, so symmetries count) the most certain one, with -ln(sigma) as logits. Eq. 8 alone
    teaches this only slowly; with it the anchor choice is learnt in the first hundreds of steps.

    Args:
        log_sigma: (B, A); anchors: (A, 3, 3); R_label: (B, 3, 3).

    Returns:
        (B,) loss per instance.
    """
    with torch.no_grad():
        target = shape_match_loss(anchors[None], R_label[:, None], pts_m, symmetric).argmin(dim=1)
    return torch.nn.functional.cross_entropy(-log_sigma, target, reduction='none')
