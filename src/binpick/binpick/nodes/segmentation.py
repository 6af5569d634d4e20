"""segmentation: ``camera/color/image_raw`` -> ``binpick/instances`` (a mono16 label image and one Instance
per detection), with the issue-4 segmentation model. Latest frame first."""
from __future__ import annotations

from sensor_msgs.msg import RegionOfInterest

from binpick.catalog import Catalog
from binpick.nodes import base, msgs
from binpick.perception.model_registry import sha256
from binpick.perception.segmentation import Segmenter
from binpick_interfaces.msg import Instance, InstanceSegmentation


class SegmentationNode(base.BinpickNode):
    def __init__(self, **kwargs) -> None:
        super().__init__('segmentation', **kwargs)
        path = self.param('segmentation_checkpoint', '')
        if not path:
            raise ValueError('parameter segmentation_checkpoint is not set')
        self.segmenter = Segmenter.load(path, Catalog(), score_threshold=float(self.param('score_threshold', 0.5)),
                                        input_size_px=int(self.param('input_size_px', 0)))
        self.version = f'seg-{sha256(path)[:12]}'
        self.publisher = self.create_publisher(InstanceSegmentation, base.INSTANCES, base.SENSOR_QOS)
        self.worker = self.frame_worker(base.COLOR, self.segment, 'segmentation')
        self.create_subscription(msgs.Image, base.COLOR, self.worker.submit, base.SENSOR_QOS)
        self.get_logger().info(f'segmentation model {path} ({self.version}), frames resized to '
                               f'{self.segmenter.config.min_size} px (short side)')

    def segment(self, msg: msgs.Image) -> None:
        rgb = msgs.image_array(msg, self.resolve_topic_name(base.COLOR))
        if rgb.ndim != 3:
            raise msgs.BadMessage(f'{base.COLOR}: encoding {msg.encoding!r} is not a colour image')
        found = self.segmenter.segment(rgb)
        labels = msgs.label_image([i.mask for i in found], rgb.shape[:2])
        out = InstanceSegmentation(header=msg.header, label_image=msgs.image_msg(labels, 'mono16', msg.header),
                                   model_version=self.version)
        for k, inst in enumerate(found):
            x0, y0, x1, y1 = (int(round(v)) for v in inst.box_xyxy)
            out.instances.append(Instance(label=k + 1, object_id=inst.object_name, score=float(inst.score),
                                          roi=RegionOfInterest(x_offset=max(0, x0), y_offset=max(0, y0),
                                                               width=max(0, x1 - x0), height=max(0, y1 - y0))))
        self.publisher.publish(out)

    def close(self) -> None:
        self.worker.stop()


def main(args=None) -> int:
    return base.run(SegmentationNode, args)
