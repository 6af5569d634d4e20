"""Time of the rotation loss (Eq. 8 with ShapeMatch, forward + backward) for one training batch of a
symmetric part, by the number of model points: Eq. 6 pairs every point with every point.

    .venv/bin/python bench/loss_speed.py --object hex_nut
"""
import argparse
import time

import torch

from binpick.catalog import Catalog
from binpick.perception.pose.losses import anchor_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--object', default='hex_nut')
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--anchors', type=int, default=60)
    args = parser.parse_args()
    obj = Catalog().get(args.object)
    for n in (500, 128):
        pts = torch.from_numpy(obj.sample_points(n)).float()
        R = torch.randn(args.batch, args.anchors, 3, 3, requires_grad=True)
        sigma = torch.rand(args.batch, args.anchors) + 0.1
        t0 = time.perf_counter()
        anchor_loss(R, sigma, torch.eye(3).expand(args.batch, 3, 3), pts, True, obj.info.diameter_m).mean().backward()
        print(f'{args.object}, {n} model points: {time.perf_counter() - t0:.2f} s per batch of {args.batch}')


if __name__ == '__main__':
    main()
