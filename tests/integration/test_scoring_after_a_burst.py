"""Live scoring after a burst of held-up samples (found by an audit of frozen processes: a sender frozen for 40 s then
flushing its buffer had the burst decoded at once, its cues' markers handed over after it, and the first cues of the
burst counted ``missed``: their outputs were already out of the ``history_s`` of outputs kept). The scorer keeps the
decoder's ``max_buffer_s`` of outputs on top of ``history_s``. A real ``bci-stream serve``, real LSL: 25 s of samples
pushed at once (stamped as sent by a sender that fell 25 s behind; under the inlet's 30 s), then their cue markers,
once all is decoded, with ``history_s`` 10 s."""

from __future__ import annotations

import os

import httpx
import numpy as np
import pylsl
import pytest

from support.bound_port import listening_port
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet, wait_for
from support.serve_process import serve_process

pytestmark = pytest.mark.timeout(240)


def test_the_cues_of_a_burst_decoded_at_once_are_scored_not_missed(models_dir, tmp_path):
    name = unique("burst")
    outlet, _ = new_outlet(name, f"{name}-src")
    cues = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-cues", "Markers", 1, pylsl.IRREGULAR_RATE, "string",
                                               f"{name}-cues-src"))
    env = dict(os.environ, BCI_STREAM_MODELS_DIR=str(models_dir), BCI_STREAM_RECORDINGS_DIR=str(tmp_path))
    with serve_process(env) as (proc, lines), \
            httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=30) as client:
        r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru", "options": {
            "markers": {"stream": {"name": f"{name}-cues"}, "decision_time_s": 1.0, "history_s": 10.0}}})
        assert r.status_code == 201, r.text
        did = r.json()["id"]
        wait_for(lambda: outlet.have_consumers() and cues.have_consumers(), 60, "the decoder's two inlets")
        n = int(25 * TINY_SFREQ)
        t0 = pylsl.local_clock() - 25.0  # 25 s behind: the burst a frozen sender flushes
        outlet.push_chunk(test_signal(n, seed=8), (t0 + np.arange(n) / TINY_SFREQ).tolist())
        wait_status(client, did, lambda s: s["counters"]["samples_out"] == n, 60, "the burst decoded")
        at = [2.0, 8.0, 18.0, 22.0]  # 23, 17, 7 and 3 s before the burst's end
        for k, t in enumerate(at):
            cues.push_sample(["left" if k % 2 else "right"], t0 + t)
        st = wait_status(client, did, lambda s: s["scoring"]["trials"] + s["scoring"]["missed"] == len(at), 60,
                         "every cue decided or missed")["scoring"]
        assert (st["trials"], st["missed"], st["interrupted"]) == (4, 0, 0), st  # before: 2 trials, 2 missed
        assert sorted(round(t["cue_t"] - t0, 3) for t in st["last"]) == at
