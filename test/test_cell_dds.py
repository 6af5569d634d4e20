"""The online cell over real DDS, at a tiny size: the simulated cell, stereo camera, segmentation, pose
estimation, recorder and retrainer nodes in one process (one executor), talking over Fast DDS on this
machine; the recorder also as its own process, killed with SIGKILL mid-run."""
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from conftest import CELL_OBJECT as OBJECT  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402

from binpick.catalog import Catalog  # noqa: E402
from binpick.data.bag import read_frames  # noqa: E402
from binpick.data.bank import PseudoLabelBank  # noqa: E402
from binpick.data.bop import BopSplit, read_mask  # noqa: E402
from binpick.nodes import base, msgs  # noqa: E402
from binpick.nodes.pose_estimation import PoseEstimationNode  # noqa: E402
from binpick.nodes.pseudo_label_recorder import RecorderNode  # noqa: E402
from binpick.nodes.retrainer import RetrainerNode  # noqa: E402
from binpick.nodes.segmentation import SegmentationNode  # noqa: E402
from binpick.nodes.sim_cell import SimCellNode  # noqa: E402
from binpick.nodes.stereo_camera import StereoCameraNode  # noqa: E402
from binpick.perception.model_registry import ModelRegistry  # noqa: E402
from binpick_interfaces.action import SelfTrain  # noqa: E402
from binpick_interfaces.msg import BankStatistics, Instance, InstanceSegmentation, ModelUpdate, ObjectPoseArray  # noqa: E402
from binpick_interfaces.srv import RemoveInstance, TriggerSelfTrain  # noqa: E402

pytestmark = pytest.mark.ros
PERCEPTION = (SimCellNode, StereoCameraNode, SegmentationNode, PoseEstimationNode)


def params_file(tmp: Path, models: dict) -> Path:
    """A parameter file for the tiny cell: 160x120 camera, low bins, the tiny models, run folders in tmp."""
    text = f"""/**:
  ros__parameters:
    width: 160
    height: 120
    fx: 154.0
    fy: 154.0
    cx: 79.5
    cy: 59.5
    object_id: {OBJECT}
    segmentation_checkpoint: {models['seg']}
    pose_checkpoint: {models['pose']}
    bank_dir: {tmp / 'bank'}
    model_dir: {tmp / 'models'}
    perceptual: effnet-lite0
    student_epochs: 1
    batch_size: 8
    holdout_every: 3
    threads: 1
    min_gain: -1.0                # every student is published: the tests follow one outcome
/**/sim_cell:
  ros__parameters:
    period_s: 0.4
    fill: low
/**/stereo_camera:
  ros__parameters:
    source: sim
/**/segmentation:
  ros__parameters:
    score_threshold: 0.05
"""
    path = tmp / 'params.yaml'
    path.write_text(text)
    return path


def wait_for(predicate, timeout: float = 60.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return False


class Cell:
    """Nodes of one cell in a fresh namespace, spun by one executor, plus a probe node for the test."""

    def __init__(self, classes, params: Path) -> None:
        self.ns = f'/t{uuid.uuid4().hex[:8]}'
        self.nodes = {cls.__name__: cls(namespace=self.ns, cli_args=['--ros-args', '--params-file', str(params)])
                      for cls in classes}
        self.probe = rclpy.create_node('probe', namespace=self.ns)
        self.executor = MultiThreadedExecutor(num_threads=6)
        for n in [*self.nodes.values(), self.probe]:
            self.executor.add_node(n)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def listen(self, kind, topic, qos=base.SENSOR_QOS) -> list:
        got = []
        self.probe.create_subscription(kind, topic, got.append, qos)
        return got

    def close(self) -> None:
        self.executor.shutdown()
        for n in self.nodes.values():
            getattr(n, 'close', lambda: None)()
            n.destroy_node()
        self.probe.destroy_node()
        self.thread.join(timeout=5)


@pytest.fixture
def models(cell_models):
    return cell_models


@pytest.fixture
def ros():
    rclpy.init()
    yield
    rclpy.shutdown()


@pytest.mark.slow
def test_cell_banks_frames_self_trains_and_swaps_the_pose_model(ros, models, tmp_path):
    cell = Cell((*PERCEPTION, RecorderNode, RetrainerNode), params_file(tmp_path, models))
    try:
        poses, stats = cell.listen(ObjectPoseArray, base.POSES), cell.listen(BankStatistics, base.BANK_STATS,
                                                                              base.RELIABLE_QOS)
        truth = cell.listen(ObjectPoseArray, base.GROUND_TRUTH, base.RELIABLE_QOS)
        updates = cell.listen(ModelUpdate, base.MODEL_UPDATES, base.LATCHED_QOS)
        recorder = cell.nodes['RecorderNode']
        assert wait_for(lambda: len(recorder.bank.frame_ids()) >= 6, 120), 'the recorder banked too few frames'
        assert poses and poses[-1].model_version == 'pose-v0' and poses[-1].header.frame_id
        assert truth and all(p.object_id == OBJECT for p in truth[-1].poses)
        assert stats and stats[-1].frames >= 1 and stats[-1].candidates > 0 and stats[-1].bytes_used > 0
        assert stats[-1].accepted <= stats[-1].candidates
        # every banked frame is complete: images, camera, a mask and scores per candidate
        bank = PseudoLabelBank(recorder.bank.root, OBJECT)
        frame_id = bank.frame_ids()[0]
        cands = bank.candidates(frame_id)
        assert cands and all(np.isfinite(c.d_geo_m) for c in cands)
        assert BopSplit(bank.root).frame(frame_id, 0).rgb.shape == (120, 160, 3)
        assert read_mask(cands[0].mask_path).shape == (120, 160)

        # a pick removes an instance from the simulated cell
        remove = cell.probe.create_client(RemoveInstance, base.REMOVE_INSTANCE)
        assert remove.wait_for_service(10)
        gone = truth[-1].poses[0].instance_id
        removed = remove.call_async(RemoveInstance.Request(instance_id=gone))
        assert wait_for(removed.done, 20) and removed.result().success, removed.result()
        assert wait_for(lambda: all(p.instance_id != gone for p in truth[-1].poses), 20)

        # the service starts a job at once and refuses a second one while it runs
        trigger = cell.probe.create_client(TriggerSelfTrain, base.SELF_TRAIN)
        assert trigger.wait_for_service(10)
        first = trigger.call_async(TriggerSelfTrain.Request(iterations=1))
        assert wait_for(first.done, 10) and first.result().accepted, first.result().reason
        second = trigger.call_async(TriggerSelfTrain.Request())
        assert wait_for(second.done, 10) and not second.result().accepted
        assert first.result().job_id in second.result().reason

        # the action follows the running job: feedback by stage, then the result
        action = ActionClient(cell.probe, SelfTrain, base.SELF_TRAIN)
        assert action.wait_for_server(10)
        feedback = []
        sent = action.send_goal_async(SelfTrain.Goal(), feedback_callback=lambda f: feedback.append(f.feedback))
        assert wait_for(sent.done, 10) and sent.result().accepted
        result_future = sent.result().get_result_async()
        assert wait_for(result_future.done, 240), 'the self-training job did not finish'
        result = result_future.result().result
        assert result.success, result.message
        assert result.job_id == first.result().job_id
        assert feedback and {f.stage for f in feedback} & {'training', 'validating', 'selecting'}
        metrics = dict(zip(result.metric_names, result.metric_values))
        assert metrics['accepted_labels'] > 0 and 'agreement' in metrics
        assert result.model_version == 1, result.message   # published (min_gain -1): announced and served
        assert wait_for(lambda: updates and updates[-1].version == 1, 10)
        assert wait_for(lambda: poses[-1].model_version == 'pose-v1', 60)
        assert ModelRegistry(tmp_path / 'models').current().version == 1
    finally:
        cell.close()


def test_pose_node_swaps_verified_models_and_refuses_bad_ones(ros, models, tmp_path):
    cell = Cell((PoseEstimationNode,), params_file(tmp_path, models))
    try:
        node = cell.nodes['PoseEstimationNode']
        announce = cell.probe.create_publisher(ModelUpdate, base.MODEL_UPDATES, base.LATCHED_QOS)
        registry = ModelRegistry(tmp_path / 'models', models['pose'])
        v1 = registry.publish(models['pose'], {'agreement': 0.5})
        bad = ModelUpdate(model_kind='pose', object_id=OBJECT, version=2, path=str(v1.path), sha256='0' * 64)
        announce.publish(bad)
        assert wait_for(lambda: node.rejected[base.MODEL_UPDATES] == 1, 20)
        assert 'checksum' in node.last_error[base.MODEL_UPDATES] and node.version == 0
        broken = tmp_path / 'broken.pt'
        broken.write_bytes(Path(models['pose']).read_bytes()[:1000])
        from binpick.perception.model_registry import sha256
        announce.publish(ModelUpdate(model_kind='pose', object_id=OBJECT, version=3, path=str(broken),
                                     sha256=sha256(broken)))
        assert wait_for(lambda: node.rejected[base.MODEL_UPDATES] == 2, 20)
        assert 'does not load' in node.last_error[base.MODEL_UPDATES] and node.version == 0
        announce.publish(ModelUpdate(model_kind='pose', object_id=OBJECT, version=v1.version, path=str(v1.path),
                                     sha256=v1.sha256))
        assert wait_for(lambda: node.version == 1, 30) and node.swaps == 1
    finally:
        cell.close()


def _frame_messages(stamp_ns: int, rgb, depth, K, labels, instances):
    from std_msgs.msg import Header
    header = Header(stamp=msgs.time_msg(stamp_ns), frame_id='camera_color_optical_frame')
    h, w = depth.shape
    seg = InstanceSegmentation(header=header, label_image=msgs.image_msg(labels, 'mono16', header),
                               instances=instances, model_version='test')
    return {base.COLOR: msgs.image_msg(rgb, 'rgb8', header), base.DEPTH: msgs.image_msg(depth, '32FC1', header),
            base.INFO: msgs.camera_info_msg(K, w, h, header), base.INSTANCES: seg}


def test_bad_messages_are_logged_with_their_topic_and_the_node_keeps_running(ros, models, tmp_path):
    cell = Cell((PoseEstimationNode,), params_file(tmp_path, models))
    try:
        node = cell.nodes['PoseEstimationNode']
        pubs = {t: cell.probe.create_publisher(k, t, base.SENSOR_QOS) for t, k in (
            (base.COLOR, msgs.Image), (base.DEPTH, msgs.Image), (base.INFO, msgs.CameraInfo),
            (base.INSTANCES, InstanceSegmentation))}
        poses = cell.listen(ObjectPoseArray, base.POSES)
        assert wait_for(lambda: all(p.get_subscription_count() for p in pubs.values()), 10)
        frame = BopSplit(models['data'] / 'test').frame(0, 0, with_masks=True)
        rgb, depth, K = frame.rgb, frame.depth_m.astype(np.float32), frame.camera.K
        masks = [m for m in frame.masks_visib if m.sum() > 60][:3]
        labels = msgs.label_image(masks, depth.shape)
        instances = [Instance(label=k + 1, object_id=OBJECT, score=0.9) for k in range(len(masks))]

        def send(stamp, **changes):
            m = _frame_messages(stamp, rgb, depth, K, labels, instances)
            for topic, msg in changes.items():
                key = {'color': base.COLOR, 'depth': base.DEPTH, 'info': base.INFO, 'instances': base.INSTANCES}[topic]
                m[key] = msg
            for topic in (base.INFO, base.DEPTH, base.INSTANCES, base.COLOR):
                pubs[topic].publish(m[topic])

        from std_msgs.msg import Header
        cases = {
            'wrong encoding': dict(color=msgs.image_msg(rgb[..., 0], 'mono8', Header(stamp=msgs.time_msg(1)))),
            'size mismatch': dict(depth=msgs.image_msg(depth[:60], '32FC1', Header(stamp=msgs.time_msg(2)))),
            'missing camera_info': dict(info=msgs.CameraInfo(header=Header(stamp=msgs.time_msg(3)))),
            'NaN depth': dict(depth=msgs.image_msg(np.full_like(depth, np.nan), '32FC1',
                                                   Header(stamp=msgs.time_msg(4)))),
        }
        expect = {'wrong encoding': base.COLOR, 'size mismatch': base.DEPTH, 'missing camera_info': base.INFO,
                  'NaN depth': base.DEPTH}
        for n, (case, changes) in enumerate(cases.items(), start=1):
            send(n, **changes)
            assert wait_for(lambda n=n: sum(node.rejected.values()) == n, 20), case
            assert expect[case] in node.last_error['frame'], (case, node.last_error)
        # an empty segmentation is not an error: an empty pose array
        send(10, instances=InstanceSegmentation(header=Header(stamp=msgs.time_msg(10)),
                                                label_image=msgs.image_msg(np.zeros_like(labels), 'mono16',
                                                                           Header(stamp=msgs.time_msg(10)))))
        assert wait_for(lambda: any(msgs.stamp_ns(p.header) == 10 for p in poses), 20)
        assert not next(p for p in poses if msgs.stamp_ns(p.header) == 10).poses
        # and a good frame afterwards gets its poses
        send(11)
        assert wait_for(lambda: any(msgs.stamp_ns(p.header) == 11 for p in poses), 30)
        assert len(next(p for p in poses if msgs.stamp_ns(p.header) == 11).poses) >= 1
        assert sum(node.rejected.values()) == len(cases)
    finally:
        cell.close()


@pytest.mark.slow
def test_bag_record_and_replay_round_trip(ros, models, tmp_path):
    cell = Cell(PERCEPTION[:2], params_file(tmp_path, models))
    bag = tmp_path / 'cell.bag'
    try:
        env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
        rec = subprocess.run([sys.executable, '-m', 'binpick.cli', 'record', '--out', str(bag), '--duration', '6',
                              '--namespace', cell.ns], env=env, capture_output=True, text=True, timeout=90)
        assert rec.returncode == 0, rec.stderr
    finally:
        cell.close()
    frames = list(read_frames(bag, f'{cell.ns}/camera'))
    assert len(frames) >= 2 and f'{len(frames)} frames' in rec.stdout
    assert frames[0].rgb.shape == (120, 160, 3) and frames[0].depth_m.dtype == np.float32
    assert (frames[0].depth_m > 0).mean() > 0.3 and frames[0].K[0, 0] == pytest.approx(154.0)
    # replay into a bank through the recorder's scoring, then one retrainer job: `binpick selftrain --bag`
    from binpick.cli import main
    out = tmp_path / 'from_bag'
    code = main(['selftrain', '--bag', str(bag), '--namespace', f'{cell.ns}/camera', '--teacher', str(models['pose']),
                 '--seg-ckpt', str(models['seg']), '--score-threshold', '0.05', '--out', str(out),
                 '--perceptual', 'effnet-lite0', '--iterations', '1', '--student-epochs', '1', '--threads', '1'])
    bank = PseudoLabelBank(out / 'bank', OBJECT)
    assert 2 <= len(bank.frame_ids()) <= len(frames)
    assert code == 0
    current = ModelRegistry(out / 'models', models['pose']).current()
    assert current.version in (0, 1) and current.path.is_file()


@pytest.mark.slow
def test_kill_9_of_the_recorder_leaves_a_readable_bank(ros, models, tmp_path):
    params = params_file(tmp_path, models)
    cell = Cell(PERCEPTION, params)
    proc = subprocess.Popen([sys.executable, '-c', 'import sys; from binpick.nodes.pseudo_label_recorder import main; '
                             'sys.exit(main())', '--ros-args', '--params-file', str(params), '-r', f'__ns:={cell.ns}'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        bank_dir = tmp_path / 'bank'
        done = lambda: len([p for p in bank_dir.glob('[0-9]*') if (p / 'candidates.json').is_file()])  # noqa: E731
        assert wait_for(lambda: bank_dir.is_dir() and done() >= 3, 180), 'recorder banked too few frames'
        time.sleep(0.3)                                      # likely mid-way through the next frame
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        cell.close()
    bank = PseudoLabelBank(bank_dir, OBJECT)
    ids = bank.frame_ids()
    assert len(ids) >= 3
    split = BopSplit(bank_dir)
    for f in ids:
        assert split.frame(f, 0).rgb.shape == (120, 160, 3)
        assert all(read_mask(c.mask_path).any() for c in bank.candidates(f))
    # a half-written frame, if any, is a hidden staging folder that no reader lists
    assert all(p.name.isdigit() or p.name.startswith('.') or p.suffix == '.json' for p in bank_dir.iterdir())


def test_stereo_camera_from_a_folder_of_pairs(ros, models, tmp_path):
    import dataclasses

    import cv2

    from binpick.sim.camera import PinholeCamera
    from binpick.sim.cell import SimCell
    from binpick.sim.generator import CellConfig
    cell = dataclasses.replace(CellConfig.from_config(), camera=PinholeCamera.from_params(154.0, 154.0, 79.5, 59.5,
                                                                                          160, 120))
    sim = SimCell(Catalog().get(OBJECT), cell, 'low', seed=3)
    for side in ('left', 'right'):
        (tmp_path / 'pairs' / side).mkdir(parents=True)
    for k in range(2):
        cap = sim.capture()
        for side, img in (('left', cap.left_rgb), ('right', cap.right_rgb)):
            cv2.imwrite(str(tmp_path / 'pairs' / side / f'{k:04d}.png'), img[..., ::-1])
    sim.close()
    params = params_file(tmp_path, models)
    folder_source = f'    source: folder\n    folder: {tmp_path / "pairs"}\n    rate_hz: 5.0'
    params.write_text(params.read_text().replace('    source: sim', folder_source))
    c = Cell((StereoCameraNode,), params)
    try:
        depth, info, points = c.listen(msgs.Image, base.DEPTH), c.listen(msgs.CameraInfo, base.INFO), \
            c.listen(msgs.PointCloud2, base.POINTS)
        assert wait_for(lambda: depth and info and points, 30)
        d = msgs.depth_array(depth[0], base.DEPTH)
        assert d.shape == (120, 160) and 0.3 < np.median(d[d > 0]) < 1.0 and (d > 0).mean() > 0.3
        assert msgs.stamp_ns(depth[0].header) == msgs.stamp_ns(info[0].header)
        assert points[0].width > 100 and points[0].header.frame_id == depth[0].header.frame_id
    finally:
        c.close()
