"""The pseudo-label bank: whole frames or nothing, readable as a BOP split, capped disk use."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from binpick.data.bank import Candidate, PseudoLabelBank
from binpick.data.bop import BopSplit, read_mask
from binpick.data.errors import DataFormatError

K = np.array([[100.0, 0, 31.5], [0, 100.0, 23.5], [0, 0, 1]])


def _frame(seed):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    depth = rng.uniform(0.4, 0.6, (48, 64)).astype(np.float32)
    masks = [np.zeros((48, 64), bool) for _ in range(2)]
    masks[0][5:20, 5:20] = True
    masks[1][25:40, 30:50] = True
    T = np.eye(4)
    T[2, 3] = 0.5
    cands = [Candidate(-1, -1, '', T.tolist(), 0.5, 0.1 * k, 1.0, 0.1 * k, 0.002) for k in range(2)]
    return rgb, depth, masks, cands


def test_bags_read_with_the_mcap_library(tmp_path):
    """The MCAP files decode with a reader that is not rosbags, from their embedded message definitions."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    from binpick.data.bag import BagWriter, CameraFrame
    frames = [CameraFrame(2_000_000_000 + 33_000_000 * i, *_frame(i)[:2], K) for i in range(3)]
    frames[0].depth_m[3, 4] = 0.0
    with BagWriter(tmp_path / 'bag') as bag:
        for f in frames:
            bag.write(f)
    (mcap_file,) = (tmp_path / 'bag').glob('*.mcap')
    seen = {}
    with open(mcap_file, 'rb') as stream:
        for _, channel, _, ros_msg in make_reader(stream, decoder_factories=[DecoderFactory()]).iter_decoded_messages():
            seen.setdefault(channel.topic, []).append(ros_msg)
    assert {t: len(v) for t, v in seen.items()} == {'/camera/color/image_raw': 3, '/camera/depth/image_rect': 3,
                                                    '/camera/color/camera_info': 3}
    for f, color, depth, info in zip(frames, *(seen[t] for t in ('/camera/color/image_raw', '/camera/depth/image_rect',
                                                                  '/camera/color/camera_info'))):
        assert color.encoding == 'rgb8'
        assert np.array_equal(np.frombuffer(color.data, np.uint8).reshape(48, 64, 3), f.rgb)
        stored = np.frombuffer(depth.data, '<f4').reshape(48, 64)
        assert depth.encoding == '32FC1' and np.array_equal(np.nan_to_num(stored), f.depth_m)
        assert np.allclose(np.reshape(info.k, (3, 3)), K)
        assert depth.header.stamp.sec * 10**9 + depth.header.stamp.nanosec == f.stamp_ns
    assert np.isnan(np.frombuffer(seen['/camera/depth/image_rect'][0].data, '<f4').reshape(48, 64)[3, 4])


def test_rep118_depth_conversions():
    from binpick.data.bag import depth_from_rep118, depth_to_rep118
    ours = np.array([[0.0, 0.5], [0.7, 0.0]], np.float32)
    assert np.array_equal(np.isnan(depth_to_rep118(ours)), ours == 0)
    ros = np.array([[np.nan, 0.5], [np.inf, -np.inf]], np.float32)
    assert np.array_equal(depth_from_rep118(ros), [[0.0, 0.5], [0.0, 0.0]])
    assert np.array_equal(depth_from_rep118(depth_to_rep118(ours)), ours)


def test_add_and_read_back_as_bop(tmp_path):
    bank = PseudoLabelBank(tmp_path / 'bank', 'zigzag_bracket')
    rgb, depth, masks, cands = _frame(0)
    assert bank.add(rgb, depth, K, masks, cands) == 0
    assert bank.add(*_frame(1)[:1], depth, K, masks, cands) == 1
    assert bank.frame_ids() == [0, 1]
    got = bank.candidates(0)
    assert [c.scene_id for c in got] == [0, 0] and got[1].d_mask == pytest.approx(0.1)
    assert (read_mask(got[1].mask_path) == masks[1]).all()
    frame = BopSplit(bank.root).frame(0, 0)
    assert (frame.rgb == rgb).all() and np.allclose(frame.depth_m, depth, atol=1e-3)
    assert np.allclose(frame.camera.K, K)
    with pytest.raises(DataFormatError, match='bank.json'):
        PseudoLabelBank(tmp_path / 'bank', 'hex_nut')


def test_cap_evicts_oldest_but_not_protected(tmp_path):
    bank = PseudoLabelBank(tmp_path / 'bank', 'zigzag_bracket')
    for seed in range(3):
        bank.add(*_frame(seed)[:2], K, *_frame(seed)[2:])
    per_frame = bank.disk_bytes() // 3
    bank.max_bytes, bank.protected = int(per_frame * 3.5), {0}
    bank.add(*_frame(3)[:2], K, *_frame(3)[2:])
    assert bank.frame_ids() == [0, 2, 3]                 # 1 went: 0 is in use by a training job
    assert bank.disk_bytes() <= bank.max_bytes + per_frame
    assert bank.disk_bytes() == PseudoLabelBank(bank.root, 'zigzag_bracket').disk_bytes()   # kept == walked


def test_kill_9_leaves_only_whole_frames(tmp_path):
    root = tmp_path / 'bank'
    script = textwrap.dedent(f'''
        import sys; sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_bank import _frame, K
        from binpick.data.bank import PseudoLabelBank
        bank = PseudoLabelBank({str(root)!r}, 'zigzag_bracket')
        i = 0
        while True:
            rgb, depth, masks, cands = _frame(i)
            bank.add(rgb, depth, K, masks, cands)
            print(i, flush=True)
            i += 1
    ''')
    proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE, text=True)
    for _ in range(5):
        proc.stdout.readline()
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    bank = PseudoLabelBank(root, 'zigzag_bracket')
    ids = bank.frame_ids()
    assert len(ids) >= 5 and ids == list(range(len(ids)))
    split = BopSplit(root)
    for frame_id in ids:                                  # every listed frame reads completely
        assert len(bank.candidates(frame_id)) == 2
        assert split.frame(frame_id, 0).rgb.shape == (48, 64, 3)


def test_bag_round_trip(tmp_path):
    from binpick.data.bag import BagWriter, CameraFrame, read_frames
    frames = [CameraFrame(1_000_000_000 + 33_000_000 * i, *_frame(i)[:2], K) for i in range(3)]
    frames[1].depth_m[0, 0] = 0.0   # no measurement
    with BagWriter(tmp_path / 'bag') as bag:
        for f in frames:
            bag.write(f)
    assert (tmp_path / 'bag' / 'metadata.yaml').is_file() and list((tmp_path / 'bag').glob('*.mcap'))
    back = list(read_frames(tmp_path / 'bag'))
    assert [f.stamp_ns for f in back] == [f.stamp_ns for f in frames]
    for a, b in zip(frames, back):
        assert (a.rgb == b.rgb).all() and np.allclose(a.K, b.K)
        assert np.array_equal(a.depth_m, b.depth_m)
    # REP 118: the bag itself holds NaN where there is no measurement, not 0
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore
    ts = get_typestore(Stores.ROS2_JAZZY)
    with Reader(tmp_path / 'bag') as reader:
        depth = [ts.deserialize_cdr(raw, c.msgtype) for c, _, raw in reader.messages()
                 if c.topic == '/camera/depth/image_rect']
    stored = np.frombuffer(bytes(depth[1].data), '<f4').reshape(48, 64)
    assert np.isnan(stored[0, 0]) and np.isfinite(stored[1:]).all()
    with pytest.raises(FileExistsError):
        BagWriter(tmp_path / 'bag')
    with pytest.raises(DataFormatError, match='/other/color/image_raw'):
        list(read_frames(tmp_path / 'bag', namespace='/other'))


def test_a_bank_scored_one_way_refuses_another_scorer(tmp_path):
    effnet = {'perceptual': 'effnet-lite0', 'geometry': 'visible', 'crop_px': 64}
    legacy = PseudoLabelBank(tmp_path / 'bank', 'zigzag_bracket')          # as written before scorers were recorded
    rgb, depth, masks, cands = _frame(0)
    legacy.add(rgb, depth, K, masks, cands)
    bank = PseudoLabelBank(tmp_path / 'bank', 'zigzag_bracket', scorer=effnet)   # adopts the first scorer named
    assert bank.frame_ids() == [0]
    st = {**effnet, 'perceptual': 'st-lpips-alex'}
    with pytest.raises(DataFormatError, match="bank.json.*scorer.*effnet-lite0"):
        PseudoLabelBank(tmp_path / 'bank', 'zigzag_bracket', scorer=st)
    assert PseudoLabelBank(tmp_path / 'bank', 'zigzag_bracket', scorer=effnet).frame_ids() == [0]   # data intact
