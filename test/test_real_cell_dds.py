"""A camera driver of the user's own, over real DDS: bags written in the layouts of a RealSense and a Zivid
driver (their topics from config/cameras.yaml, their encodings) are replayed into the segmentation and pose
nodes remapped as `camera:=realsense` / `camera:=zivid` remap them, and give the same poses as the same frames
in binpick's own layout; the poses also come out as vision_msgs Detection3DArray and TF frames, and the
hand-eye transform as /tf_static."""
import threading
import time
import uuid

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from conftest import CELL_OBJECT as OBJECT  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.serialization import deserialize_message  # noqa: E402
from rosidl_runtime_py.utilities import get_message  # noqa: E402
from test_cell_dds import wait_for  # noqa: E402

from binpick import graph  # noqa: E402
from binpick.catalog import Catalog  # noqa: E402
from binpick.data.bag import BagWriter, CameraFrame  # noqa: E402
from binpick.data.bop import BopSplit  # noqa: E402
from binpick.data.errors import DataFormatError  # noqa: E402
from binpick.data.hand_eye import load_hand_eye  # noqa: E402
from binpick.nodes import base, msgs, outputs  # noqa: E402
from binpick.nodes.pose_estimation import PoseEstimationNode  # noqa: E402
from binpick.nodes.segmentation import SegmentationNode  # noqa: E402
from binpick_interfaces.msg import ObjectPoseArray  # noqa: E402

pytestmark = pytest.mark.ros

LAYOUTS = {'stereo': ('rgb8', '32FC1'), 'realsense': ('rgb8', '16UC1'), 'zivid': ('rgba8', '32FC1')}


def camera_frames(data, n: int = 3) -> list[CameraFrame]:
    """The first test images of the tiny dataset, depth rounded to millimetres (what 16UC1 keeps)."""
    split = BopSplit(data / 'test')
    out = []
    for scene in split.scene_ids():
        for im in split.image_ids(scene):
            f = split.frame(scene, im)
            depth_m = (np.round(f.depth_m * 1000.0) / 1000.0).astype(np.float32)
            out.append(CameraFrame(1_000_000_000 * (len(out) + 1), f.rgb, depth_m, f.camera.K))
    return out[:n]


def write_layout(path, camera: str, frames: list[CameraFrame], ns: str) -> dict[str, str]:
    """A bag of ``frames`` as ``camera``'s driver publishes them; returns key -> topic."""
    color_encoding, depth_encoding = LAYOUTS[camera]
    if camera == 'stereo':
        topics = {'color': f'{ns}/{base.COLOR}', 'depth': f'{ns}/{base.DEPTH}', 'info': f'{ns}/{base.INFO}'}
    else:
        preset = graph.camera_presets()[camera]
        topics = {'color': preset['color_topic'], 'depth': preset['depth_topic'], 'info': preset['camera_info_topic']}
    with BagWriter(path, topics=topics, color_encoding=color_encoding, depth_encoding=depth_encoding) as w:
        for f in frames:
            w.write(f)
    return topics


def bag_messages(path) -> list[tuple[str, str, bytes]]:
    """(topic, type, CDR bytes) of a bag, in time order."""
    from rosbags.rosbag2 import Reader
    with Reader(path) as reader:
        return [(c.topic, c.msgtype, raw) for c, _, raw in reader.messages()]


def replay(probe, path, poses: dict, timeout_s: float = 60.0) -> None:
    """Publish a bag's messages as its driver would, one frame at a time: the next frame's messages go out
    once the pose node has answered the last (the nodes drop stale frames, a driver's frames are not stale)."""
    publishers = {}
    for topic, msgtype, raw in bag_messages(path):
        if topic not in publishers:
            pub = publishers[topic] = probe.create_publisher(get_message(msgtype), topic, base.SENSOR_QOS)
            assert wait_for(lambda p=pub: p.get_subscription_count() > 0, 30), topic
        msg = deserialize_message(raw, get_message(msgtype))
        before = len(poses)
        publishers[topic].publish(msg)
        if 'depth' in topic:                       # the last message of each frame the writer wrote
            assert wait_for(lambda n=before: len(poses) > n, timeout_s), \
                f'no poses for frame {msgs.stamp_ns(msg.header)}'


def run_layout(camera: str, params, frames: list[CameraFrame], bag) -> dict:
    """Start segmentation and pose estimation remapped for ``camera``, replay its bag; stamp -> poses."""
    ns = f'/t{uuid.uuid4().hex[:8]}'
    remaps = graph.nodes({'camera': camera})[0].remappings
    args = ['--ros-args', '--params-file', str(params)] + [a for k, v in remaps.items() for a in ('-r', f'{k}:={v}')]
    nodes = [cls(namespace=ns, cli_args=args) for cls in (SegmentationNode, PoseEstimationNode)]
    probe = rclpy.create_node('probe', namespace=ns)
    got = {'poses': {}, 'detections': {}, 'tf': []}
    probe.create_subscription(ObjectPoseArray, base.POSES,
                              lambda m: got['poses'].__setitem__(msgs.stamp_ns(m.header), m), base.SENSOR_QOS)
    probe.create_subscription(outputs.Detection3DArray, base.DETECTIONS,
                              lambda m: got['detections'].__setitem__(msgs.stamp_ns(m.header), m), base.RELIABLE_QOS)
    probe.create_subscription(outputs.TFMessage, outputs.TF, got['tf'].append, base.TF_QOS)
    executor = MultiThreadedExecutor(num_threads=6)
    for n in [*nodes, probe]:
        executor.add_node(n)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        topics = write_layout(bag, camera, frames, ns)
        replay(probe, bag, got['poses'])
        assert wait_for(lambda: len(got['detections']) == len(frames), 10)
        time.sleep(0.5)
        got['topics'] = topics
        return got
    finally:
        executor.shutdown()
        for n in nodes:
            n.close()
            n.destroy_node()
        probe.destroy_node()
        thread.join(timeout=5)


def test_a_realsense_and_a_zivid_driver_give_the_poses_of_binpicks_own_camera(cell_models, tmp_path):
    models = cell_models
    from test_cell_dds import params_file
    frames = camera_frames(models['data'])
    params = params_file(tmp_path, models)
    rclpy.init()
    try:
        runs = {camera: run_layout(camera, params, frames, tmp_path / f'{camera}.bag') for camera in LAYOUTS}
    finally:
        rclpy.shutdown()
    assert runs['realsense']['topics']['depth'] == '/camera/camera/aligned_depth_to_color/image_raw'

    def poses(run):
        return {stamp: [(p.instance_id, msgs.pose_matrix(p.pose)) for p in m.poses]
                for stamp, m in run['poses'].items()}
    reference = poses(runs['stereo'])
    assert sorted(reference) == [f.stamp_ns for f in frames]
    assert sum(len(v) for v in reference.values()) > 0, 'the tiny models found no part: nothing was compared'
    for camera in ('realsense', 'zivid'):
        other = poses(runs[camera])
        assert sorted(other) == sorted(reference), camera
        for stamp, found in reference.items():
            assert [k for k, _ in other[stamp]] == [k for k, _ in found], (camera, stamp)
            for (_, T), (_, T_other) in zip(found, other[stamp]):
                np.testing.assert_allclose(T_other, T, atol=1e-6, err_msg=camera)
    # the same poses as Detection3DArray and as TF frames
    obj = Catalog().get(OBJECT)
    run = runs['stereo']
    for stamp, m in run['poses'].items():
        det = run['detections'][stamp]
        assert len(det.detections) == len(m.poses)
        for d, p in zip(det.detections, m.poses):
            assert d.results[0].hypothesis.class_id == OBJECT and d.id == str(p.instance_id)
            assert d.results[0].hypothesis.score == pytest.approx(p.confidence)
            assert msgs.pose_matrix(d.results[0].pose.pose) == pytest.approx(msgs.pose_matrix(p.pose))
            assert d.bbox.size.x == pytest.approx(obj.info.size_xyz_m[0])
    frames = {(t.header.frame_id, t.child_frame_id) for tf in run['tf'] for t in tf.transforms}
    expected = {(m.header.frame_id, outputs.frame_name('', OBJECT, p.instance_id))
                for m in run['poses'].values() for p in m.poses}
    assert frames == expected


def test_hand_eye_file_of_easy_handeye2_and_its_errors(tmp_path):
    good = tmp_path / 'cell.calib'
    good.write_text("""parameters:
  name: cell
  calibration_type: eye_on_base
  robot_base_frame: panda_link0
  robot_effector_frame: panda_hand
  tracking_base_frame: camera_color_optical_frame
  tracking_marker_frame: marker
transform:
  translation: {x: 0.5, y: 0.01, z: 0.55}
  rotation: {x: 1.0, y: 0.0, z: 0.0, w: 0.0}
""")
    calib = load_hand_eye(good)
    assert calib.base_frame == 'panda_link0' and calib.camera_frame == 'camera_color_optical_frame'
    np.testing.assert_allclose(calib.T_base_cam[:3, 3], [0.5, 0.01, 0.55])
    np.testing.assert_allclose(calib.T_base_cam[:3, :3], np.diag([1.0, -1.0, -1.0]), atol=1e-12)
    msg = outputs.static_tf_msg(calib.base_frame, calib.camera_frame, calib.T_base_cam)
    t = msg.transforms[0]
    assert (t.header.frame_id, t.child_frame_id) == ('panda_link0', calib.camera_frame)
    assert t.transform.rotation.x == pytest.approx(1.0)
    text = good.read_text()
    for bad_text, problem in ((text.replace('w: 0.0}', 'w: 0.5}'), 'transform.rotation: |q| = 1.1180: not a rigid'),
                              (text.replace('eye_on_base', 'eye_in_hand'), 'binpick needs eye_on_base'),
                              (text.replace('x: 0.5,', 'x: .nan,'), 'transform.translation: not finite'),
                              (text.replace('  robot_base_frame: panda_link0\n', ''),
                               "missing field 'robot_base_frame'")):
        bad = tmp_path / 'bad.calib'
        bad.write_text(bad_text)
        with pytest.raises(DataFormatError, match=problem.replace('|', r'\|')):
            load_hand_eye(bad)


def test_the_rviz_view_shows_what_the_cell_publishes():
    import yaml

    from binpick.config import config_dir, load_params
    view = yaml.safe_load((config_dir() / 'binpick.rviz').read_text())['Visualization Manager']
    topics = {d['Topic']['Value'] for d in view['Displays'] if 'Topic' in d}
    assert topics == {f'/{t}' for t in (base.POINTS, base.COLOR, base.MARKERS, base.GRASP_MARKERS)}
    assert view['Global Options']['Fixed Frame'] == load_params('cell')['base_frame_id']
