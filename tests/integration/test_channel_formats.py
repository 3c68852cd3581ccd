"""Every numeric pylsl channel format decodes with the right scaling (issue 15, item 3).

Real EEG (EEGMMIDB S001R06, the channels of the bundled ``eegmmidb-s001`` model in its order, its first 10 s)
is sent by a real pylsl outlet in each format, through a real decoder worker, and read back with a pylsl
inlet. LSL has no per-channel scale factor besides the unit string, so the integer formats carry whole
counts of the unit their ``desc`` declares:

* float32 in µV; double64 in V (as mne-lsl's ``PlayerLSL`` sends);
* int16 in µV (±32.767 mV range, 1 µV steps);
* int32 and int64 in nV (±2.1 V range for int32, 1 nV steps).

Each decoded stream must equal offline decoding of the very values the outlet carried (scaled to µV), and
stay within a bound of decoding the float64 µV signal. EEGMMIDB's EDF stores whole microvolts (digital
range = physical range ±8092 µV), so int16 in µV and the nV formats carry it without loss here; a source
with finer steps loses up to half a count to rounding, which the second bound would show. pylsl pushes and pulls int64
only on 64-bit platforms other than Windows (``bci_stream.lsl.source.INT64_SUPPORTED``); elsewhere the
int64 case is skipped, naming the platform.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Callable

import numpy as np
import pylsl
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.engine.offline import decode_offline
from bci_stream.lsl.info import make_stream_info
from bci_stream.lsl.source import INT64_SUPPORTED
from bci_stream.service.supervisor import Supervisor
from support.common import REPO, SHARED_DATA, TEST_DATA, require_full_data, unique
from support.lsl import open_output, pull_all, wait_for
from support.pacing import push_paced

MODEL = "eegmmidb-s001"
N_SAMPLES = 1600  # 10 s at 160 Hz
#: format → (unit declared in the desc, size of that unit in µV, numpy dtype, bound on max |y - y_float64|)
FORMATS = {
    "float32": ("microvolts", 1.0, np.float32, 1e-4),
    "double64": ("V", 1e6, np.float64, 1e-4),
    "int16": ("uV", 1.0, np.int16, 0.05),
    "int32": ("nV", 1e-3, np.int32, 1e-3),
    "int64": ("nanovolts", 1e-3, np.int64, 1e-3),
}


def _edf():
    local = TEST_DATA / "eegmmidb" / "S001" / "S001R06.edf"
    return local if local.exists() else require_full_data(SHARED_DATA / "eegmmidb" / "S001" / "S001R06.edf")


@pytest.fixture(scope="module")
def entry():
    return ModelRegistry(REPO / "models").get(MODEL)


@pytest.fixture(scope="module")
def eeg_uv(entry) -> np.ndarray:
    """``[N_SAMPLES, n_chans]`` float64 µV of real EEG, in the model's channel order."""
    from bci_stream.io import load_recording

    rec = load_recording(_edf(), ch_names=list(entry.card.ch_names))
    return np.ascontiguousarray(rec.data[:, :N_SAMPLES].T)


@pytest.fixture(scope="module")
def offline(entry) -> Callable[[np.ndarray], np.ndarray]:
    """``decode_offline(entry, x)``, computed once per distinct ``x`` (seconds for this model): the float64 µV
    reference of every format, and the values int32 and int64 both carry (the same whole nV counts)."""
    done: dict[tuple, np.ndarray] = {}

    def run(x: np.ndarray) -> np.ndarray:
        key = (x.shape, x.dtype.str, hashlib.sha256(np.ascontiguousarray(x).tobytes()).digest())
        if key not in done:
            done[key] = decode_offline(entry, x)
        return done[key]

    return run


@pytest.fixture(scope="module")
def supervisor():
    sup = Supervisor(str(REPO / "models"), status_interval=0.1)
    yield sup
    sup.shutdown()


def _values(x_uv: np.ndarray, unit_uv: float, dtype: np.dtype) -> np.ndarray:
    """``x_uv`` in the declared unit, as the outlet's dtype: whole counts for integer formats (never clipped)."""
    if not np.issubdtype(dtype, np.integer):
        return (x_uv / unit_uv).astype(dtype)
    counts = np.rint(x_uv / unit_uv)
    info = np.iinfo(dtype)
    assert counts.min() >= info.min and counts.max() <= info.max, f"EEG out of the {dtype} range in counts"
    return counts.astype(dtype)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_channel_format_decodes_with_the_right_scaling(supervisor, entry, eeg_uv, offline, fmt):
    unit, unit_uv, dtype, bound = FORMATS[fmt]
    if fmt == "int64" and not INT64_SUPPORTED:
        pytest.skip(f"pylsl has no int64 push/pull on {platform.system()} {platform.architecture()[0]}")
    card = entry.card
    name = unique(f"fmt-{fmt}")
    info = make_stream_info(name, "EEG", card.ch_names, card.sfreq, f"{name}-src", unit=unit, channel_format=fmt)
    outlet = pylsl.StreamOutlet(info)
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": MODEL, "options": {"max_buffer_s": 60}})
    handle = supervisor.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)
    try:
        wait_for(lambda: handle.status.state in ("running", "error"), 60, "the worker to be running")
        assert handle.status.state == "running", handle.status.error
        stream = handle.status.stream
        assert stream["channel_format"] == fmt
        assert stream["units"] == {"input": unit, "assumed": False,
                                   "scale": pytest.approx(unit_uv, rel=1e-12)}
        out = open_output(f"{name}-decoded")
        sent = _values(eeg_uv, unit_uv, dtype)
        push_paced(outlet, sent, card.sfreq * 16, chunk=10)  # 16x real time: the input buffer holds 60 s
        y, _ = pull_all(out, N_SAMPLES, timeout=60)
        assert y.shape == (N_SAMPLES, card.n_outputs)  # every sample decoded once, none duplicated
        carried_uv = sent.astype(np.float64) * unit_uv  # the values the outlet carried, in µV
        diff_exact = float(np.abs(y - offline(carried_uv)).max())
        diff_float = float(np.abs(y - offline(eeg_uv)).max())
        rounding = float(np.abs(carried_uv - eeg_uv).max())
        print(f"\n{fmt:>8} in {unit!r:13} ({unit_uv:g} µV): max |live - offline(sent)| {diff_exact:.2e}, "
              f"max |live - offline(float64 µV)| {diff_float:.2e}, max input rounding {rounding:.3g} µV")
        assert diff_exact <= 1e-4
        assert diff_float <= bound
    finally:
        supervisor.stop(handle.id)
        del outlet


def test_int64_is_accepted_where_pylsl_pulls_it_and_refused_with_a_clear_error_elsewhere():
    from bci_stream.core.errors import StreamMismatchError
    from bci_stream.lsl.source import check_stream

    card = ModelRegistry(REPO / "models").get(MODEL).card

    def info(fmt: str) -> pylsl.StreamInfo:
        return make_stream_info(f"check-{fmt}", "EEG", card.ch_names, card.sfreq, f"check-{fmt}-src",
                                channel_format=fmt)

    if INT64_SUPPORTED:  # this platform (CI's): the same channel map as a float32 stream, no error
        got, ref = check_stream(info("int64"), card), check_stream(info("float32"), card)
        assert (got is None and ref is None) or np.array_equal(got, ref)
    else:
        with pytest.raises(StreamMismatchError, match="has channel format int64, which pylsl cannot pull on"):
            check_stream(info("int64"), card)
