"""Chunks stamped once that last longer than the 2 s timestamp_repair ``auto`` finds (an audit: 1000-sample chunks at
160 Hz, one stamp each): the decoded stamps stayed the chunks' own, up to 6.24 s off, with no word. The status's
``timestamps`` now gives the longest run of one stamp and, while ``auto`` leaves such runs unrepaired, a warning
naming ``on``, which repairs them; shorter runs are repaired by ``auto`` as before, and per-sample stamps (a fast
replay's short steps too) are no runs."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.lsl.dejitter import TimestampRepair


def described(sfreq: float, chunk: int, mode: str = "auto", pull: int = 37, speed: float = 1.0,
              declared: float | None = None, n_chunks: int = 6) -> dict:
    # a replay's declared speed (the service reads it from the stream's info: StreamDecoder.set_speed): its rate
    repair = TimestampRepair(sfreq * (declared or 1.0), mode)
    t = 100.0 + np.arange(chunk * n_chunks) / sfreq / speed
    ts = np.repeat(t[chunk - 1::chunk], chunk) if chunk > 1 else t
    for i in range(0, len(ts), pull):
        repair.apply(ts[i:i + pull])
    return repair.describe()


@pytest.mark.parametrize("pull", [1, 37, 4000])
def test_chunks_stamped_once_over_2_s_are_said_with_the_mode_that_repairs_them(pull):
    d = described(160.0, 1000, pull=pull)
    assert (d["active"], d["longest_stamp_run"]) == (False, 1000)
    assert d["warning"] == ("chunks of up to 1000 samples share one stamp (6.24 s): timestamp_repair 'auto' finds "
                            "chunks stamped once of up to 2 s, so the decoded stamps are the chunks' own (up to "
                            "6.24 s off); set timestamp_repair 'on' to give each sample its own")
    on = described(160.0, 1000, "on", pull=pull)
    assert on["active"] and on["warning"] is None


@pytest.mark.parametrize(("sfreq", "chunk", "speed", "active", "run"), [(160.0, 320, 1.0, True, 320),
                                                                       (500.0, 1, 1.0, False, 0),
                                                                       (500.0, 1, 4.0, False, 0)])
def test_runs_auto_repairs_and_per_sample_stamps_get_no_warning(sfreq, chunk, speed, active, run):
    d = described(sfreq, chunk, speed=speed)
    assert (d["active"], d["longest_stamp_run"], d["warning"]) == (active, run, None)


@pytest.mark.parametrize("pull", [1, 37])
def test_a_replay_faster_than_20x_that_declares_its_speed_is_no_run_of_one_stamp(pull):
    """Audit s58readme F1: ``replay --speed 32`` (steps of 1/32 period, under the 0.05 period taken for a repeated
    stamp) got ``longest_stamp_run`` of the whole stream and the warning that its chunks share one stamp, logged again
    at every new length. With the declared speed, a repeated stamp is one under 0.05 of the sender's period."""
    undeclared = described(160.0, 1, pull=pull, speed=32.0, n_chunks=12800)  # 80 s of samples in 2.5 s
    assert undeclared["longest_stamp_run"] == 12800 and undeclared["warning"] is not None  # as the audit saw
    d = described(160.0, 1, pull=pull, speed=32.0, declared=32.0, n_chunks=12800)
    assert (d["active"], d["longest_stamp_run"], d["warning"]) == (False, 0, None)


@pytest.mark.parametrize("speed", [100.0, 200.0, 1000.0])
def test_a_replay_declared_up_to_1000x_keeps_its_stamps(speed):
    """Review s58 F4: replays above ~100x (``replay --speed`` takes up to 1000) had their regular stamps rewritten by
    up to 225 ms (the repair read them at the nominal rate: a stair-case)."""
    repair = TimestampRepair(160.0 * speed, "auto")
    ts = 100.0 + np.arange(3200) / (160.0 * speed)
    out = np.concatenate([repair.apply(ts[i:i + 37]) for i in range(0, len(ts), 37)])
    np.testing.assert_array_equal(out, ts)
    assert repair.describe()["samples_repaired"] == 0
