"""The decode path end to end over real LSL on loopback, in a real worker process."""

from __future__ import annotations

import dataclasses

import os
import time

import numpy as np
import pylsl
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.lsl.info import read_ch_names
from bci_stream.engine.offline import decode_offline
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, test_signal
from support.pacing import push_paced
from support.lsl import pull_all, wait_for


@pytest.fixture()
def supervisor(models_dir):
    sup = Supervisor(str(models_dir), status_interval=0.1)
    yield sup
    sup.shutdown()


@pytest.mark.parametrize("model", ["tiny-gru", "tiny-lstm"])
def test_every_sample_decoded_in_order_equal_to_offline(supervisor, models_dir, eeg_outlet, model):
    """N known samples of a 500 Hz stream in (pushed at 4x real time) → exactly N decoded samples out, same
    timestamps, offline values."""
    outlet, info = eeg_outlet
    n = 5000 if model == "tiny-gru" else 1500
    x = test_signal(n, seed=3)
    handle = supervisor.start(DecoderSpec.model_validate({"stream": {"name": info.name()}, "model": model}))
    wait_for(lambda: handle.status.state == "running", 30, "the worker to be running")
    out_name = handle.status.output_stream["name"]
    assert out_name == f"{info.name()}-decoded"
    found = pylsl.resolve_bypred(f"name='{out_name}'", 1, 10.0)
    assert found, "decoded stream not found"
    assert found[0].type() == "Decoded" and found[0].channel_count() == 3
    assert found[0].nominal_srate() == TINY_SFREQ
    inlet = pylsl.StreamInlet(found[0], max_buflen=60, processing_flags=0)
    inlet.open_stream(timeout=10.0)
    full_info = inlet.info(timeout=10.0)  # keep it alive: desc() points into it
    entry = ModelRegistry(models_dir).get(model)
    assert full_info.desc().child("model").child_value("sha256") == entry.card.sha256
    assert read_ch_names(full_info) == ["rest", "left", "right"]

    ts_in = push_paced(outlet, x, TINY_SFREQ * 4, chunk=10)
    y, ts_out = pull_all(inlet, n, timeout=30)

    assert len(ts_out) == n, f"expected exactly {n} decoded samples, got {len(ts_out)}"
    np.testing.assert_array_equal(ts_out, ts_in)  # same host: the input timestamps, unchanged, in order
    y_ref = decode_offline(entry, x)
    assert np.abs(y - y_ref).max() <= 1e-5
    wait_for(lambda: handle.status.counters.samples_out == n, 5, "the counters to settle")
    counters = dataclasses.asdict(handle.status.counters)
    assert counters["samples_in"] == counters["samples_out"] == n
    assert counters["gaps"] == 0 and counters["nonfinite_values"] == 0
    assert handle.status.hist["e2e"]["n"] == n


def test_backlog_and_odd_chunking_give_the_same_result(supervisor, models_dir, eeg_outlet):
    """Samples arriving as one 3 s backlog and in ragged chunks decode exactly as offline."""
    outlet, info = eeg_outlet
    x = test_signal(2000, seed=5)
    handle = supervisor.start(DecoderSpec.model_validate({"stream": {"source_id": info.source_id()},
                                                          "model": "tiny-gru"}))
    wait_for(lambda: handle.status.state == "running", 30, "the worker to be running")
    found = pylsl.resolve_bypred(f"name='{info.name()}-decoded'", 1, 10.0)
    inlet = pylsl.StreamInlet(found[0], max_buflen=60)
    inlet.open_stream(timeout=10.0)
    t0 = pylsl.local_clock()
    ts = t0 + np.arange(len(x)) / TINY_SFREQ
    outlet.push_chunk(x[:1500], ts[:1500].tolist())  # a 3 s backlog at once
    for a, b in [(1500, 1501), (1501, 1538), (1538, 1777), (1777, 2000)]:
        outlet.push_chunk(x[a:b], ts[a:b].tolist())
    y, ts_out = pull_all(inlet, len(x), timeout=30)
    assert len(ts_out) == len(x)
    np.testing.assert_array_equal(ts_out, ts)
    assert np.abs(y - decode_offline(ModelRegistry(models_dir).get("tiny-gru"), x)).max() <= 1e-5


def test_nan_samples_are_replaced_counted_and_outputs_stay_finite(supervisor, eeg_outlet):
    outlet, info = eeg_outlet
    x = test_signal(1000, seed=7)
    x[100:110, 2] = np.nan
    x[500, :] = np.inf
    handle = supervisor.start(DecoderSpec.model_validate({"stream": {"name": info.name()}, "model": "tiny-gru"}))
    wait_for(lambda: handle.status.state == "running", 30, "the worker to be running")
    found = pylsl.resolve_bypred(f"name='{info.name()}-decoded'", 1, 10.0)
    inlet = pylsl.StreamInlet(found[0], max_buflen=60)
    inlet.open_stream(timeout=10.0)
    push_paced(outlet, x, TINY_SFREQ * 4, chunk=50)
    y, _ = pull_all(inlet, len(x), timeout=20)
    assert len(y) == len(x) and np.isfinite(y).all()
    wait_for(lambda: handle.status.counters.nonfinite_values == 10 + 8, 5, "the NaN count")


def test_channel_mismatch_is_an_error_state_not_a_crash(supervisor):
    """A stream without labels and the wrong channel count is refused with a message; no restart."""
    name = f"bad-{os.getpid()}-{time.monotonic_ns()}"
    info = pylsl.StreamInfo(name, "EEG", 5, TINY_SFREQ, "float32", f"{name}-src")
    outlet = pylsl.StreamOutlet(info)
    handle = supervisor.start(DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru"}))
    wait_for(lambda: handle.exit_code is not None, 30, "the worker to exit")
    assert handle.status.state == "error"
    assert handle.last_error == (
        f"stream {name!r} has 5 channels and no channel labels; model 'tiny-gru@1.0.0' needs n_chans=8"
    )
    time.sleep(1.0)
    assert handle.restarts == 0
    del outlet


def test_wrong_rate_is_refused(supervisor, models_dir):
    from bci_stream.lsl.info import make_stream_info
    from support.common import TINY_CH_NAMES

    name = f"rate-{os.getpid()}-{time.monotonic_ns()}"
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, 250.0, f"{name}-src"))
    handle = supervisor.start(DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru"}))
    wait_for(lambda: handle.exit_code is not None, 30, "the worker to exit")
    assert handle.last_error == f"stream '{name}' has sfreq=250 Hz; model 'tiny-gru@1.0.0' needs sfreq=500 Hz"
    del outlet


def test_stream_that_never_appears_times_out_with_a_clear_error(supervisor):
    """The error lists the streams this host sees, the one named most like the selector's name first (audit s52loop:
    a misspelt name said only "no LSL stream matched", where ``bci-stream record`` lists them)."""
    from bci_stream.lsl.info import make_stream_info
    from support.common import TINY_CH_NAMES

    typo = f"amp-{os.getpid()}-{time.monotonic_ns()}"
    outlet = pylsl.StreamOutlet(make_stream_info(typo, "EEG", TINY_CH_NAMES, 500.0, f"{typo}-src"))
    spec = DecoderSpec.model_validate({"stream": {"name": typo + "x"}, "model": "tiny-gru",
                                       "options": {"resolve_timeout": 1.0}})
    handle = supervisor.start(spec)
    wait_for(lambda: handle.exit_code is not None, 30, "the worker to exit")
    head = f"no LSL stream matched name='{typo}x' within 1 s; visible streams ("
    assert handle.last_error.startswith(head), handle.last_error
    assert handle.last_error.split("): ", 1)[1].startswith(f"'{typo}' (EEG, 8 ch"), handle.last_error
    del outlet


def test_stop_leaves_no_process(supervisor, eeg_outlet):
    _, info = eeg_outlet  # a dedicated worker: its process is what stop() must end
    handle = supervisor.start(DecoderSpec.model_validate({"stream": {"name": info.name()}, "model": "tiny-gru",
                                                          "options": {"worker": "dedicated"}}))
    wait_for(lambda: handle.status.state == "running", 30, "the worker to be running")
    pid = handle.process.pid
    supervisor.stop(handle.id)
    assert handle.exit_code == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert supervisor.get(handle.id) is None


def test_killed_worker_is_reported_and_restarted(supervisor, eeg_outlet):
    _, info = eeg_outlet  # sends nothing: 'running' lasts stall_timeout_s, then 'stalled' (1 s by default: a window
    # that polling on a loaded machine missed, before the kill and after the restart)
    handle = supervisor.start(DecoderSpec.model_validate({"stream": {"name": info.name()}, "model": "tiny-gru",
                                                          "options": {"stall_timeout_s": 600}}))
    wait_for(lambda: handle.status.state == "running", 30, "the worker to be running")
    first_pid = handle.process.pid
    os.kill(first_pid, 9)
    # the death is noticed (exit code, last_error and the restart counted at once, under the supervisor's lock) by its
    # monitor thread, which a loaded machine may run late; exit_code is -9 only until the restart (0.5 s backoff)
    # takes up the new worker, so the wait is on what stays: the restart counted
    wait_for(lambda: handle.restarts == 1, 30, "the death to be noticed")
    assert handle.last_error == f"worker process {first_pid} exited with code -9 (signal 9)"
    wait_for(lambda: (v := supervisor.snapshot(handle)).restarts == 1 and v.status.state == "running"
             and v.status.pid != first_pid, 30, "the restart")  # one moment's view: the new worker's status
    assert handle.process.pid != first_pid
