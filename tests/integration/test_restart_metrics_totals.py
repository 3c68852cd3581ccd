"""After a kill -9 of a decoder's worker, /metrics goes on from where the killed generation left: the latency
histograms (buckets, ``_sum``, ``_count``) are summed over worker generations as the counters are, and the rows a
killed worker numbered but never put in its output ring (``provenance_missing``) are a counter,
``provenance_missing_rows``, in the status, ``totals`` and /metrics, counted once however many restarts follow.
Real LSL on loopback, a real Supervisor and worker processes, ``kill -9``."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from bci_stream.api.routers.metrics import SupervisorCollector
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.metrics import add_histograms
from bci_stream.service.ring import OutputRing
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, wait_for
from support.pacing import PacedPusher
from support.listing import Listing

def exported(handle: DecoderHandle) -> dict[str, float]:
    """/metrics' samples of ``handle``, by name and ``le`` (histogram buckets)."""
    return {s.name + (f"[{s.labels['le']}]" if "le" in s.labels else ""): s.value
            for family in SupervisorCollector(Listing(handle)).collect() for s in family.samples}


def bucket_values(values: dict[str, float], stage: str) -> list[float]:
    prefix = f"bci_stream_latency_{stage}_seconds_bucket["
    return [v for k, v in values.items() if k.startswith(prefix)]


def worker_pid(handle: DecoderHandle) -> int:
    return handle.status.worker["pid"] if handle.shared else handle.status.pid


@pytest.fixture
def decoding(models_dir) -> Iterator[tuple[Supervisor, DecoderHandle]]:
    """A decoder of a paced stream, decoding (its first worker generation)."""
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=5, restart_backoff=0.1)
    name = unique("fixAmetrics")
    outlet = new_outlet(name, f"{name}-src")[0]
    pusher = PacedPusher(outlet, test_signal(int(60 * TINY_SFREQ), seed=5), TINY_SFREQ)
    pusher.start()
    card = ModelRegistry(models_dir).get("tiny-gru").card
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru"})
    try:
        handle = sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)
        wait_for(lambda: handle.status.state == "running" and handle.status.counters.samples_out > 300, 60,
                 "the first generation to decode")
        yield sup, handle
    finally:
        pusher.halt.set()
        sup.shutdown()


def restarted(handle: DecoderHandle, generation: int) -> None:
    wait_for(lambda: handle.generation == generation and handle.status.state == "running"
             and handle.status.counters.samples_out > 0, 60, f"worker generation {generation} to decode")


def test_latency_histograms_do_not_go_back_at_a_kill_9(decoding):
    sup, handle = decoding
    before = exported(handle)
    assert before["bci_stream_latency_e2e_seconds_count"] > 0
    os.kill(worker_pid(handle), signal.SIGKILL)
    restarted(handle, 2)
    wait_for(lambda: handle.status.hist["e2e"]["n"] > 0, 30, "the new generation's latencies")
    with sup._lock:  # no snapshot taken meanwhile: the figures, the status and the ended generation's agree
        after = exported(handle)
        summed = add_histograms(handle.ended_status.hist, handle.status.hist)
    for stage in ("e2e", "service", "decode"):
        assert all(b >= a for a, b in zip(bucket_values(before, stage), bucket_values(after, stage)))
        assert after[f"bci_stream_latency_{stage}_seconds_count"] == summed[stage]["n"]  # both generations
        assert after[f"bci_stream_latency_{stage}_seconds_sum"] == pytest.approx(summed[stage]["sum"])
        assert after[f"bci_stream_latency_{stage}_seconds_count"] > handle.status.hist[stage]["n"]
    assert after["bci_stream_samples_in_total"] >= before["bci_stream_samples_in_total"]


def frozen_between_chunks(pid: int, ring: OutputRing) -> bool:
    """Freeze the worker (SIGSTOP) between two chunks: no write under way, every seq it numbered in the ring (else
    let it go on, SIGCONT, and False)."""
    os.kill(pid, signal.SIGSTOP)
    if ring.pending == ring.head and ring.unwritten_seq() is None:
        return True
    os.kill(pid, signal.SIGCONT)
    return False


def test_provenance_missing_rows_are_counted_once_over_restarts(decoding):
    sup, handle = decoding
    ring = handle.ring
    pid = worker_pid(handle)
    wait_for(lambda: frozen_between_chunks(pid, ring), 30, "the worker frozen between two chunks")
    ring.reserve(ring.last_seq() + 8)  # it numbered its next chunk (8 rows), and is killed before its ring write
    first, last = ring.unwritten_seq()
    os.kill(pid, signal.SIGKILL)
    restarted(handle, 2)
    missing = {"first_seq": first, "last_seq": last, "at_most": 8}
    assert handle.status.output_stream["provenance_missing"] == missing
    assert handle.status.counters.provenance_missing_rows == 8
    assert handle.totals().provenance_missing_rows == 8
    assert exported(handle)["bci_stream_provenance_missing_rows_total"] == 8
    pid = worker_pid(handle)
    wait_for(lambda: frozen_between_chunks(pid, ring), 30, "the second worker frozen between two chunks")
    os.kill(pid, signal.SIGKILL)  # nothing numbered and unwritten this time
    restarted(handle, 3)
    assert "provenance_missing" not in handle.status.output_stream  # the range was reported once, by generation 2
    assert handle.status.counters.provenance_missing_rows == 0
    assert handle.counted.ended.provenance_missing_rows == 8
    assert handle.totals().provenance_missing_rows == 8
    assert exported(handle)["bci_stream_provenance_missing_rows_total"] == 8
