"""A recording as the service records a decoder's session (``record_path``), for tests: written by the real Recorder
(float32 input, decoded outputs, provenance, events, and the followed marker stream with zero-duration cues)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def crop(rec, seconds: float):
    """The first ``seconds`` of ``rec`` (every channel, its events) as a new Recording."""
    from bci_stream.io import Recording

    n = int(round(seconds * rec.sfreq))
    return Recording(data=rec.data[:, :n].copy(), sfreq=rec.sfreq, ch_names=list(rec.ch_names),
                     events=[e for e in rec.events if e.onset < n], source=f"{rec.source}[0:{n}]")


def service_session(path: Path, rec, ch_names: list[str] | None = None, chunk: int = 32) -> Path:
    """``rec`` as the service records a decoder's session (``record_path``): float32 input, outputs, provenance,
    events, and the followed marker stream with one zero-duration marker per event, written by the real Recorder."""
    from bci_stream.service.recorder import Recorder

    ih = dict(name="amp", type="EEG", ch_names=ch_names or list(rec.ch_names), sfreq=rec.sfreq,
              channel_format="float32", source_id="amp-1", unit="microvolts")
    oh = dict(name="amp-decoded", labels=["fists", "feet"], sfreq=rec.sfreq, source_id="amp-1/decoded/abc",
              model={"name": "eegmmidb-s001", "version": "1.0.0", "sha256": "0" * 64})
    out = Recorder(path, ih, oh, flush_interval=0.05)
    t0 = 5000.0
    out.event(t0, "start")
    out.marker_stream({"name": "amp-markers", "type": "Markers", "source_id": "amp-1-markers", "hostname": "here"})
    x = np.ascontiguousarray(rec.data.T, dtype=np.float32)
    onsets = {e.onset: e.description for e in rec.events}
    for k in range(0, len(x), chunk):
        ts = t0 + (k + np.arange(len(x[k:k + chunk]))) / rec.sfreq
        out.inputs(x[k:k + chunk], ts)
        out.outputs(np.full((len(ts), 2), 0.5, np.float32), ts + 0.01, np.arange(k, k + len(ts)), 0)
        for i in range(k, k + len(ts)):
            if i in onsets:
                out.marker(float(t0 + i / rec.sfreq), onsets[i])
        if k % (chunk * 50) == 0:
            out.clock_offset(float(ts[-1]), 0.0)
            out.marker_clock_offset(float(ts[-1]), 0.0)
    out.event(t0 + len(x) / rec.sfreq, "stop")
    out.close()
    return path
