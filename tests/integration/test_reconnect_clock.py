"""A source that comes back (same name and source_id) on another clock, as when the sender's host rebooted and its
monotonic clock restarted: the new instance's samples are stamped with an offset estimate of its own from the first
one. Real LSL on loopback, real worker processes; each sender runs on a clock of its own through libfaketime (Debian's
``faketime``, installed by ``make test``), since both ends of a loopback stream otherwise read the same clock."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, unique
from support.clock_sender import FAKETIME, SECONDS, sender
from support.lsl import Arrivals, open_output, wait_for


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_a_source_back_on_another_clock_is_stamped_with_its_own_offset_from_its_first_sample(models_dir, worker):
    """Before: its first ~0.3 s were published with the last instance's offset (stamps 2.6e8 s off with a sender
    3000 days back), until the next periodic offset refresh; the status blamed the sender ("a sender stamping
    samples with a clock of its own")."""
    assert FAKETIME.is_file(), f"{FAKETIME} is missing: install Debian's faketime (make test does)"
    sup = Supervisor(str(models_dir), status_interval=0.1, shared_workers=1)
    name = unique("reboot")
    a = sender(name, "+100s")
    b = None
    try:
        spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru",
                                           "options": {"worker": worker, "wait_for_consumer_s": 20}})
        handle = sup.start(spec, n_outputs=3, sfreq=TINY_SFREQ)
        out = Arrivals(open_output(f"{name}-decoded"))
        while a.poll() is None:
            out.pull()
        first = len(out.stamps)
        assert first > 0 and a.returncode == 0
        b = sender(name, "-3000d")  # the same name and source_id, another clock
        while b.poll() is None:
            out.pull()
        wait_for(lambda: out.pull() - first >= SECONDS * TINY_SFREQ, 30, "the new instance decoded")
        off = out.off()  # arrival on this host's clock minus the decoded stamp
        assert off[:first].max() < 60, off[:first].max()  # the first instance: +100 s, corrected
        bad = np.flatnonzero(off[first:] > 60)  # the latency of a loaded machine, never the clocks' 3000 days
        assert len(bad) == 0, f"{len(bad)} of the new instance's outputs stamped {off[first:].max():.3g} s off"
        assert handle.status.counters.reconnects == 1
        wait = handle.status.clock_wait  # the new instance's first data waited for its own estimate, which came
        # (or, its time probes unanswered for 3 s on a loaded machine, none did: the last instance's offset, 1.5e9 s
        # off for this instance, was then not used; its arrival here stamped it until an estimate came)
        assert wait is not None and 0 <= wait["seconds"] < 60, wait
        assert wait["estimate"] is True or wait.get("offset_from") == "arrival", wait
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.kill()
        sup.shutdown()


def test_a_sender_clock_that_drifts_gives_decoded_stamps_that_never_step_back(models_dir):
    """A sender 1 % fast (exaggerated: a crystal is ~100 ppm, but estimates scattering over a busy network do the
    same at any drift): each refreshed offset estimate (every few seconds) was added as a step, and the decoded stamps
    went back by up to 17 ms at each refresh (160 Hz), uncounted. Now the estimates make a line, changed smoothly."""
    assert FAKETIME.is_file(), f"{FAKETIME} is missing: install Debian's faketime (make test does)"
    sup = Supervisor(str(models_dir), status_interval=0.1, shared_workers=1)
    name = unique("drift")
    seconds = 12.0
    a = sender(name, "+100s x1.01", seconds)
    try:
        spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru",
                                           "options": {"wait_for_consumer_s": 20}})
        handle = sup.start(spec, n_outputs=3, sfreq=TINY_SFREQ)
        inlet = open_output(f"{name}-decoded")
        stamps: list[float] = []
        deadline = time.monotonic() + 60 + seconds
        while len(stamps) < seconds * TINY_SFREQ and time.monotonic() < deadline:
            stamps.extend(inlet.pull_chunk(timeout=0.2, max_samples=4096)[1])
        assert a.wait(30) == 0 and len(stamps) == seconds * TINY_SFREQ, len(stamps)
        steps = np.diff(stamps)
        assert steps.min() > 0, f"decoded stamps stepped back by {-steps.min() * 1e3:.1f} ms"
        assert handle.status.counters.samples_lost == 0 and handle.status.clock_offset is not None
    finally:
        if a.poll() is None:
            a.kill()
        sup.shutdown()



@pytest.mark.parametrize(("first", "then", "worker"), [("-3000d", "+100s", "dedicated"), ("+100s", "-3000d", "shared")])
def test_the_break_before_a_new_instance_on_another_clock_is_measured_on_this_hosts_clock(models_dir, first, then,
                                                                                         worker):
    """A sender back on a clock ahead of its last one, or behind it (a rebooted host). Before: the break was read on
    the two senders' own stamps: 2.6e8 s ahead counted 1.3e11 samples lost; behind, no gap at all (a step back), so
    ``gap_policy`` reset was not applied and the recurrent state carried over the break. Now the break is the one
    between the decoded stamps on this host's clock, counted and cut as for a sender on one clock."""
    assert FAKETIME.is_file(), f"{FAKETIME} is missing: install Debian's faketime (make test does)"
    sup = Supervisor(str(models_dir), status_interval=0.1, shared_workers=1)
    name = unique("break")
    a, b = sender(name, first, 2.0), None
    try:
        spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru",
                                           "options": {"worker": worker, "gap_policy": "reset",
                                                       "wait_for_consumer_s": 20}})
        handle = sup.start(spec, n_outputs=3, sfreq=TINY_SFREQ)
        inlet = open_output(f"{name}-decoded")
        stamps: list[float] = []
        while a.poll() is None:
            stamps.extend(inlet.pull_chunk(timeout=0.05, max_samples=4096)[1])
        # its first data 2 s after the worker's inlet re-subscribed: the worker has its clock offset estimate by then
        # (liblsl measures it at once), so the line has the new instance's offset before its first sample comes
        b = sender(name, then, 2.0, lead_s=2.0)
        sent = 2 * int(2.0 * TINY_SFREQ)
        wait_for(lambda: (stamps.extend(inlet.pull_chunk(timeout=0.05, max_samples=4096)[1]), len(stamps) >= sent)[1],
                 60, "both instances decoded")
        steps = np.diff(stamps)
        k = int(np.argmax(steps))  # the break, on this host's clock (each instance mapped with its own offset)
        assert k == sent // 2 - 1 and np.sort(steps)[-2] < 0.5, (k, np.sort(steps)[-3:])
        wait_for(lambda: handle.status.counters.samples_in == sent, 30, "the status of every sample")  # 0.1 s late
        c = handle.status.counters
        assert (c.reconnects, c.gaps, c.gap_policy_applied, c.backward_steps) == (1, 1, 1, 0), c
        # the count and the published break agree but for how far the new instance's clock mapping moved between its
        # first chunk (published) and the gap tracker's window of later samples (counted): liblsl's offset estimates
        # under load are off by tens of ms, and a refined one blends in over 2 s (a rehearsal s47: 2409 counted for a
        # 4.779 s break, 42 ms apart). Before the fix: 1.3e11 samples, or no gap at all.
        assert abs(c.samples_lost - (steps[k] * TINY_SFREQ - 1)) <= 2 + 0.1 * TINY_SFREQ, (c.samples_lost, steps[k])
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.kill()
        sup.shutdown()
