"""The metric-learning loss of UCN (Xiang et al., CoRL 2020, eq. 1-2) on unit pixel embeddings.

With d(a, b) = (1 - a.b) / 2 and mu_k the normalised mean embedding of cluster k (every part, and the
background, is one cluster):
- intra-cluster: pixels farther than ``alpha`` from their cluster's mean are pulled in,
  (1/K) sum_k  sum_i 1[d(mu_k, x_i) > alpha] d(mu_k, x_i)^2 / sum_i 1[d(mu_k, x_i) > alpha];
- inter-cluster: means closer than ``delta`` are pushed apart, 2/(K(K-1)) sum_{k<l} [delta - d(mu_k, mu_l)]_+^2.

Beyond the paper, ``neighbours``: the same push averaged over the pairs of clusters that touch in the image
only. Clusters far apart are split by the clustering's connected pieces anyway; the hard cases in a bin
are touching parts of one kind, which the plain average over all K(K-1)/2 pairs weighs little.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

ALPHA, DELTA = 0.02, 0.5


def cluster_means(embedding: torch.Tensor, labels: torch.Tensor, n_clusters: int) -> torch.Tensor:
    """(K,D) normalised mean embedding per label 0..K-1 of (P,D) embeddings with (P,) labels."""
    sums = torch.zeros(n_clusters, embedding.shape[1], dtype=embedding.dtype).index_add_(0, labels, embedding)
    return F.normalize(sums, dim=1)


def touching_pairs(labels: torch.Tensor, index_of_label: torch.Tensor, k: int, reach_px: int = 2) -> torch.Tensor:
    """(K,K) bool: clusters with pixels within ``reach_px`` of each other along a row or a column."""
    touching = torch.zeros(k, k, dtype=torch.bool)
    for a, b in ((labels[:, :-reach_px], labels[:, reach_px:]), (labels[:-reach_px], labels[reach_px:])):
        edge = (a != b) & (a >= 0) & (b >= 0)
        touching[index_of_label[a[edge]], index_of_label[b[edge]]] = True
    return touching | touching.t()


def embedding_loss(embedding: torch.Tensor, labels: torch.Tensor, alpha: float = ALPHA,
                   delta: float = DELTA) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(intra, inter, neighbours) losses of one image: (D,H,W) unit embeddings, (H,W) long labels
    (0 background, 1..N parts; -1 ignored). Labels need not be contiguous."""
    flat = embedding.flatten(1).t()
    lab = labels.flatten()
    keep = lab >= 0
    flat, lab = flat[keep], lab[keep]
    present, lab = torch.unique(lab, return_inverse=True)
    k = len(present)
    mu = cluster_means(flat, lab, k)
    d = 0.5 * (1.0 - (flat * mu[lab]).sum(dim=1))
    far = (d > alpha).float()
    per_cluster = torch.zeros(k, dtype=d.dtype).index_add_(0, lab, far * d * d)
    counts = torch.zeros(k, dtype=d.dtype).index_add_(0, lab, far)
    intra = (per_cluster / counts.clamp(min=1.0)).mean()
    if k < 2:
        return intra, torch.zeros((), dtype=d.dtype), torch.zeros((), dtype=d.dtype)
    push = F.relu(delta - 0.5 * (1.0 - mu @ mu.t())) ** 2
    upper = torch.triu(torch.ones(k, k, dtype=torch.bool), diagonal=1)
    inter = push[upper].sum() * 2.0 / (k * (k - 1))
    index_of_label = torch.full((int(present.max()) + 1,), -1, dtype=torch.long)
    index_of_label[present] = torch.arange(k)
    near = touching_pairs(labels, index_of_label, k) & upper
    neighbours = push[near].mean() if near.any() else torch.zeros((), dtype=d.dtype)
    return intra, inter, neighbours


def foreground_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of (H,W) foreground logits against labels > 0 (label -1 ignored)."""
    keep = labels >= 0
    return F.binary_cross_entropy_with_logits(logits[keep], (labels[keep] > 0).to(logits.dtype))
