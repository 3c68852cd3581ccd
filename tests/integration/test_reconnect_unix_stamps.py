"""A sender on this host, decoded on this host's clock (offset 0: its clock offset estimates are ~0), comes back (same
name and source_id) stamping its samples with Unix time: its estimate still says "this clock", its stamps say
otherwise. This is also what a bogus estimate near 0 of a sender back on another clock looks like (seen once in CI:
``test_reconnect_clock``, all 2,000 outputs of a sender 3000 days back published 1.5e9 s off, unwarned).

Before: the new instance's wait for a clock offset of its own was skipped for a stream of this host read on its clock
(offset 0 was enough), so its samples went out as sent, 1.8e9 s from their arrival. Now that skip needs the new
instance's first chunk to fit its arrival as the last instance's did; here it does not, so its samples are stamped by
their arrival (``clock_wait.offset_from: "arrival"``), and the later estimates (~0 again) are refused. Real LSL on
loopback, a real worker (dedicated and shared), no timing assertion."""

from __future__ import annotations

import time

import numpy as np
import pylsl
import pytest

from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import Arrivals, new_outlet, open_output, wait_for

N = int(TINY_SFREQ)  # 1 s of samples from each instance


def push_stamped(outlet: pylsl.StreamOutlet, x: np.ndarray, shift: float, chunk: int = 10) -> None:
    """Push ``x`` in real time, each sample stamped with this host's LSL clock at its time plus ``shift``."""
    ts = pylsl.local_clock() + np.arange(len(x)) / TINY_SFREQ
    for i in range(0, len(x), chunk):
        if (wait := ts[min(i + chunk, len(x)) - 1] - pylsl.local_clock()) > 0:
            time.sleep(wait)
        outlet.push_chunk(x[i:i + chunk], (ts[i:i + chunk] + shift).tolist())


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_a_same_host_sender_back_with_unix_stamps_is_stamped_by_arrival(models_dir, worker):
    sup = Supervisor(str(models_dir), status_interval=0.1, shared_workers=1)
    name = unique("unixback")
    sid = f"{name}-src"
    x = test_signal(2 * N, seed=42)
    first, _ = new_outlet(name, sid)
    try:
        spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru",
                                           "options": {"worker": worker, "stall_timeout_s": 0.5}})
        handle = sup.start(spec, n_outputs=3, sfreq=TINY_SFREQ)
        out = Arrivals(open_output(f"{name}-decoded"))
        assert first.wait_for_consumers(30)
        push_stamped(first, x[:N], 0.0)
        wait_for(lambda: out.pull() >= N, 30, "the first instance decoded")
        del first  # the sender's program ends
        wait_for(lambda: handle.status.state == "stalled", 30, "the stall")
        second, _ = new_outlet(name, sid)  # back: same name and source_id, its samples stamped with Unix time
        assert second.wait_for_consumers(30), "liblsl did not re-subscribe the decoder's inlet"
        push_stamped(second, x[N:], time.time() - pylsl.local_clock())
        wait_for(lambda: out.pull() >= 2 * N, 60, "the second instance decoded")
        off = out.off()  # arrival here minus the decoded stamp
        assert off[:N].max() < 60, off[:N].max()
        bad = np.flatnonzero(off[N:] > 60)  # a loaded machine's latency, never Unix time's 1.8e9 s
        assert len(bad) == 0, f"{len(bad)} of the new instance's outputs stamped {off[N:].max():.3g} s off"
        wait_for(lambda: handle.status.counters.samples_in == 2 * N, 30, "the status of every sample")  # 0.1 s late
        assert handle.status.counters.reconnects == 1
        wait = handle.status.clock_wait
        assert wait is not None and wait.get("offset_from") == "arrival", wait
    finally:
        sup.shutdown()
