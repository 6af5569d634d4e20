"""Fault injection on what the cell stores: a full disk while banking, a crash while publishing a model.
Neither may leave half-written data or take the model in service away."""
import errno
import json

import pytest
from test_bank import K, _frame

from binpick.data import atomic
from binpick.data import bank as bank_module
from binpick.data.bank import PseudoLabelBank
from binpick.perception.model_registry import ModelRegistry, sha256


def _bank_frame(bank, seed):
    rgb, depth, masks, candidates = _frame(seed)
    return bank.add(rgb, depth, K, masks, candidates)


def test_full_disk_while_banking_skips_the_frame_and_recording_resumes(tmp_path, monkeypatch):
    bank = PseudoLabelBank(tmp_path / 'bank', 'zigzag_bracket')
    assert _bank_frame(bank, 0) == 0
    real_write_mask = bank_module.write_mask

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(bank_module, 'write_mask', disk_full)
    with pytest.raises(OSError, match='No space left'):
        _bank_frame(bank, 1)
    assert bank.frame_ids() == [0]
    assert not [p for p in (tmp_path / 'bank').iterdir() if p.name.startswith('.')]   # nothing half-written
    monkeypatch.setattr(bank_module, 'write_mask', real_write_mask)    # space is back
    assert _bank_frame(bank, 2) == 1 and bank.frame_ids() == [0, 1]
    assert len(bank.candidates(1)) == 2 and bank.candidates(0)[0].d_geo_m == pytest.approx(0.002)


def test_a_crash_between_checkpoint_and_current_json_keeps_the_old_model(tmp_path, monkeypatch):
    initial = tmp_path / 'v0.pt'
    initial.write_bytes(b'model zero')
    student = tmp_path / 'student.pt'
    student.write_bytes(b'model one')
    registry = ModelRegistry(tmp_path / 'models', initial)
    real_write_json = atomic.write_json

    def killed(path, *args, **kwargs):
        if str(path).endswith('current.json'):
            raise KeyboardInterrupt('killed before current.json')   # the process dies here
        return real_write_json(path, *args, **kwargs)
    monkeypatch.setattr(atomic, 'write_json', killed)
    with pytest.raises(KeyboardInterrupt):
        registry.publish(student, {'verified_rate': 0.9})
    monkeypatch.setattr(atomic, 'write_json', real_write_json)
    restarted = ModelRegistry(tmp_path / 'models', initial).current()   # the retrainer starts again
    assert restarted.version == 0 and restarted.path == initial and restarted.sha256 == sha256(initial)
    published = ModelRegistry(tmp_path / 'models', initial).publish(student, {'verified_rate': 0.9})
    assert published.version == 1
    doc = json.loads((tmp_path / 'models' / 'current.json').read_text())
    assert doc['sha256'] == sha256(published.path) and published.path.read_bytes() == b'model one'


def test_a_worker_stops_in_time_and_says_when_it_left_a_frame_unfinished():
    import threading
    import time

    from binpick.nodes import flow
    release, done = threading.Event(), []
    slow = flow.LatestWorker(lambda item: (release.wait(5), done.append(item)), name='slow-test')
    slow.submit(1)
    time.sleep(0.1)                         # the item is in progress
    t0 = time.monotonic()
    slow.stop(timeout_s=0.3)
    assert time.monotonic() - t0 < 1.0 and 'slow-test' in flow.ABANDONED
    release.set()
    quick = flow.LatestWorker(done.append, name='quick-test')
    quick.submit(2)
    time.sleep(0.1)
    quick.stop()
    assert 'quick-test' not in flow.ABANDONED and 2 in done
    flow.ABANDONED.remove('slow-test')


def test_a_niced_worker_lowers_the_priority_of_its_own_thread_only():
    import os
    import threading

    from binpick.nodes import flow
    seen, done = [], threading.Event()
    own = os.nice(0)
    worker = flow.LatestWorker(lambda item: (seen.append(os.nice(0)), done.set()), name='niced-test', nice=5)
    worker.submit(1)
    assert done.wait(10)
    worker.stop()
    assert seen == [min(own + 5, 19)] and os.nice(0) == own      # the caller (a node's main thread) unchanged


def test_a_frame_worker_gives_the_heap_a_frame_freed_back():
    """``after_each`` runs after every item; with ``trim_heap`` the memory an item allocated and freed (in the
    worker's own arena, pinned below a block that stays) leaves the process."""
    import threading

    import psutil

    from binpick.nodes import flow
    from binpick.nodes.base import trim_heap
    rss = lambda: psutil.Process().memory_info().rss / 2**20  # noqa: E731
    kept, calls, done = [], [], threading.Event()

    def frame(_item) -> None:
        chunks = [bytearray(4000) for _ in range(40_000)]      # 160 MB of heap blocks, freed on return
        kept.append(bytearray(4000))                           # pins the heap's top above them
        del chunks

    def after() -> None:
        trim_heap()
        calls.append(rss())
        if len(calls) == 2:
            done.set()
    before = rss()
    worker = flow.LatestWorker(frame, name='trim-test', after_each=after)
    for item in (1, 2):
        worker.submit(item)
        while len(calls) < item and not done.is_set():
            done.wait(0.05)
    assert done.wait(30)
    worker.stop()
    assert calls[1] < before + 40, (before, calls)


def test_every_nth_calls_on_the_nth_calls_only():
    from binpick.nodes.base import every_nth
    calls = []
    trim = every_nth(lambda: calls.append(1), 4)
    for _ in range(9):
        trim()
    assert len(calls) == 2                                     # the 4th and the 8th
