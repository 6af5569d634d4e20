"""pseudo_label_recorder: every perceived frame (colour, depth, camera info, instances, poses, paired by
stamp) is scored with the self-training verification scores and banked with all its candidates in the
pseudo-label bank on disk (atomic: a kill -9 leaves every finished frame readable). Publishes running
acceptance statistics on ``binpick/bank_statistics``. Disk use is capped; the oldest frames go first,
never those a training job is reading."""
from __future__ import annotations

import numpy as np
from std_msgs.msg import Header

from binpick.catalog import Catalog
from binpick.data.bank import PseudoLabelBank
from binpick.nodes import base, msgs
from binpick.nodes.frames import perceived_frame
from binpick.selftrain.online import bank_frame
from binpick.selftrain.perceptual import PerceptualDistance
from binpick.selftrain.scores import PoseScorer
from binpick.selftrain.selection import select
from binpick_interfaces.msg import BankStatistics


class RecorderNode(base.BinpickNode):
    def __init__(self, **kwargs) -> None:
        super().__init__('pseudo_label_recorder', **kwargs)
        self.object_id = self.param('object_id', 'zigzag_bracket')
        bank_dir = self.param('bank_dir', '')
        if not bank_dir:
            raise ValueError('parameter bank_dir is not set')
        cap_mb = float(self.param('bank_max_mb', 2000.0))
        self.scorer = PoseScorer(Catalog().get(self.object_id), PerceptualDistance(self.param('perceptual', 'auto')),
                                 self.param('geometry', 'visible'), int(self.param('crop_px', 64)))
        self.bank = PseudoLabelBank(bank_dir, self.object_id, int(cap_mb * 1e6) if cap_mb > 0 else None,
                                    scorer=self.scorer.description)
        self.scores = {f: [(c.d_appearance, c.d_geo_m) for c in self.bank.candidates(f)] for f in self.bank.frame_ids()}
        # consecutive frames of an unchanged bin carry nearly the same labels: bank one every min_period_s
        # (capture time) and leave the cores to the perception path between them
        self.min_period_ns = int(float(self.param('min_period_s', 0.0)) * 1e9)
        self.last_stamp_ns: int | None = None
        self.stats = self.create_publisher(BankStatistics, base.BANK_STATS, base.RELIABLE_QOS)
        self.worker = self.frame_worker('frame', self.record, 'recorder')
        self.subscribe_frame(['color', 'depth', 'info', 'instances', 'poses'], self.worker.submit)
        self.get_logger().info(f'banking {self.object_id} frames in {bank_dir} ({len(self.scores)} there; '
                               f'{self.scorer.perceptual.name}, {self.scorer.geometry} geometry)')

    def record(self, m: dict) -> None:
        stamp = msgs.stamp_ns(m['color'].header)
        if self.last_stamp_ns is not None and 0 <= stamp - self.last_stamp_ns < self.min_period_ns:
            return
        frame = perceived_frame(m)
        by_label = {inst.label: k for k, inst in enumerate(m['instances'].instances)}
        poses = [p for p in m['poses'].poses if p.instance_id in by_label and p.object_id == self.object_id]
        if not poses:
            self.get_logger().debug('frame without pose candidates: not banked')
            return
        masks = [frame.masks[by_label[p.instance_id]] for p in poses]
        self.last_stamp_ns = stamp
        frame_id, candidates = bank_frame(
            self.bank, self.scorer, frame.rgb, frame.depth_m, frame.K, masks, [msgs.pose_matrix(p.pose) for p in poses],
            [p.confidence for p in poses], extra={'stamp_ns': stamp, 'model_version': m['poses'].model_version},
            seed=stamp % (1 << 31))
        self.scores[frame_id] = [(c.d_appearance, c.d_geo_m) for c in candidates]
        for gone in set(self.scores) - set(self.bank.frame_ids()):
            del self.scores[gone]
        self.publish_stats(m['color'].header)

    def publish_stats(self, header: Header) -> None:
        d = np.array([s for frame in self.scores.values() for s in frame], dtype=np.float64).reshape(-1, 2)
        selection = select(d[:, 0], d[:, 1])
        accepted = int(selection.accepted.sum())
        self.stats.publish(BankStatistics(
            header=header, frames=len(self.scores), candidates=len(d), accepted=accepted,
            acceptance_rate=accepted / len(d) if len(d) else 0.0, tau_appearance=selection.tau_appearance,
            tau_geometry=selection.tau_geometry_m,
            bytes_used=self.bank.disk_bytes(), bytes_cap=self.bank.max_bytes or 0))

    def close(self) -> None:
        self.worker.stop()


def main(args=None) -> int:
    return base.run(RecorderNode, args)
