"""ChunkPuller and ChunkPusher on real LSL outlets and inlets (loopback): every sample, in order, with its
timestamp, whatever the chunking; clear errors for what they cannot carry."""

from __future__ import annotations

import time

import numpy as np
import pylsl
import pytest

from bci_stream.lsl.info import make_stream_info
from bci_stream.lsl.liblsl import ChunkPuller, ChunkPusher
from support.common import unique


def pair(fmt: int, n_chans: int, sfreq: float = 500.0) -> tuple[pylsl.StreamOutlet, pylsl.StreamInlet]:
    name = unique("lslio")
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", n_chans, sfreq, fmt, f"{name}-src"), chunk_size=0)
    found = pylsl.resolve_bypred(f"name='{name}'", 1, 10.0)
    assert found, f"stream {name} not found"
    inlet = pylsl.StreamInlet(found[0], max_buflen=60, processing_flags=0)
    inlet.open_stream(timeout=10.0)
    assert outlet.wait_for_consumers(10.0)
    return outlet, inlet


def pull_n(puller: ChunkPuller, n: int, timeout: float = 10.0) -> tuple[np.ndarray, np.ndarray, list[int]]:
    xs, tss, sizes = [], [], []
    deadline = time.monotonic() + timeout
    while sum(sizes) < n and time.monotonic() < deadline:
        x, ts = puller.pull(0.2)
        if len(ts):
            xs.append(x.copy())  # the views are reused by the next pull
            tss.append(ts.copy())
            sizes.append(len(ts))
    assert sum(sizes) == n, f"pulled {sum(sizes)} of {n} samples"
    return np.concatenate(xs), np.concatenate(tss), sizes


@pytest.mark.parametrize(("fmt", "dtype"), [(pylsl.cf_float32, np.float32), (pylsl.cf_double64, np.float64),
                                            (pylsl.cf_int16, np.int16), (pylsl.cf_int32, np.int32)])
def test_pushed_chunks_arrive_whole_in_order_with_their_timestamps(fmt, dtype):
    outlet, inlet = pair(fmt, 5)
    push, puller = ChunkPusher(outlet), ChunkPuller(inlet, max_samples=64)
    rng = np.random.default_rng(1)
    n = 1000
    x = (rng.standard_normal((n, 5)) * 100).astype(dtype)
    ts = 1000.0 + np.arange(n) / 500.0 + rng.uniform(0, 1e-4, n)  # irregular: each stamp must be kept
    i = 0
    for size in [1, 1, 7, 300, 1, 64, 65, 2, 559]:  # single samples and chunks larger than max_samples
        push(x[i:i + size], ts[i:i + size])
        i += size
    assert i == n
    got_x, got_ts, sizes = pull_n(puller, n)
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_ts, ts)
    assert max(sizes) <= 64, "a pull must not return more than max_samples"
    x, ts = puller.pull(0.2)
    assert len(ts) == 0 and x.shape == (0, 5)


def test_a_backlog_is_taken_in_pieces_of_max_samples():
    outlet, inlet = pair(pylsl.cf_float32, 3)
    push, puller = ChunkPusher(outlet), ChunkPuller(inlet, max_samples=100)
    x = np.arange(3000, dtype=np.float32).reshape(1000, 3)
    push(x, 5.0 + np.arange(1000) / 500.0)
    deadline = time.monotonic() + 30
    while inlet.samples_available() < 1000 and time.monotonic() < deadline:  # all of it waits in the inlet
        time.sleep(0.02)
    _, _, sizes = pull_n(puller, 1000)
    assert sizes == [100] * 10


def test_single_sample_puller_and_float64_input_to_a_float32_outlet():
    outlet, inlet = pair(pylsl.cf_float32, 2)
    push, puller = ChunkPusher(outlet), ChunkPuller(inlet, max_samples=1)
    x = np.array([[0.5, -1.25], [2.0, 3.0], [4.0, 5.0]])  # float64: converted to the outlet's float32
    push(x, np.array([1.0, 2.0, 3.0]))
    got_x, got_ts, sizes = pull_n(puller, 3)
    assert sizes == [1, 1, 1]
    np.testing.assert_array_equal(got_x, x.astype(np.float32))
    np.testing.assert_array_equal(got_ts, [1.0, 2.0, 3.0])


def test_errors_name_the_rule_and_the_bad_value():
    outlet, inlet = pair(pylsl.cf_float32, 4)
    push = ChunkPusher(outlet)
    with pytest.raises(ValueError, match=r"x must have shape \(2, 4\) for 2 timestamps, got \(2, 3\)"):
        push(np.zeros((2, 3), np.float32), np.zeros(2))
    with pytest.raises(ValueError, match=r"x must have shape \(3, 4\) for 3 timestamps, got \(2, 4\)"):
        push(np.zeros((2, 4), np.float32), np.zeros(3))
    push(np.zeros((0, 4), np.float32), np.zeros(0))  # nothing to send is not an error
    with pytest.raises(ValueError, match="max_samples must be >= 1, got 0"):
        ChunkPuller(inlet, 0)
    name = unique("lslio-str")
    markers = pylsl.StreamOutlet(pylsl.StreamInfo(name, "Markers", 1, 0, pylsl.cf_string, f"{name}-src"))
    found = pylsl.resolve_bypred(f"name='{name}'", 1, 10.0)
    str_inlet = pylsl.StreamInlet(found[0])
    with pytest.raises(ValueError, match="inlet's channel_format must be numeric, got cf_string"):
        ChunkPuller(str_inlet, 8)
    with pytest.raises(ValueError, match="outlet's channel_format must be numeric, got cf_string"):
        ChunkPusher(markers)


def test_the_pylsl_internals_liblsl_relies_on_are_there():
    """bci_stream/lsl/liblsl.py goes past pylsl's public API; these are the attributes it uses."""
    import pylsl.lib
    import pylsl.util

    name = unique("pins")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", ["a", "b"], 100.0, f"{name}-src"))
    inlet = pylsl.StreamInlet(pylsl.resolve_byprop("name", name, 1, 10.0)[0])
    for obj, attrs in ((inlet, ("do_pull_chunk", "obj")), (outlet, ("do_push_chunk", "do_push_chunk_n", "obj"))):
        for attr in attrs:
            assert hasattr(obj, attr), f"pylsl {pylsl.__version__} has no {type(obj).__name__}.{attr}"
    assert callable(pylsl.lib.lib.lsl_time_correction_ex) and callable(pylsl.util.handle_error)
    del inlet, outlet
