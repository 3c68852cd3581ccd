"""A returning source's new outlet instance checked against the running model and the instance decoded so far
(:mod:`bci_stream.service.instance_check`): real StreamInfo objects, and a real outlet on loopback for the full info."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pylsl
import pytest

from bci_stream.core.errors import SourceUnavailableError, StreamMismatchError
from bci_stream.core.registry import ModelRegistry
from bci_stream.lsl.info import make_stream_info, read_labels
from bci_stream.service.instance_check import check_instance, fetch_full_info
from bci_stream.service.worker import describe_failure
from bci_stream.service.worker_entry import EXIT_REFUSED, RESTARTED
from support.common import REPO, TINY_CH_NAMES, TINY_SFREQ, unique
from support.lsl import wait_for

ONE = np.ones(len(TINY_CH_NAMES))


@pytest.fixture(scope="module")
def card(models_dir):
    return ModelRegistry(models_dir).get("tiny-gru").card


def info(ch_names=TINY_CH_NAMES, unit="uV", **kw) -> pylsl.StreamInfo:
    return make_stream_info("s", "EEG", list(ch_names), TINY_SFREQ, "sid", unit=unit, **kw)


def test_same_channels_pass_even_spelled_otherwise(card):
    was = info()
    assert check_instance(info(), was, card, None, ONE, None).describe() == {"input": "uV", "assumed": False,
                                                                             "scale": 1.0}
    units = check_instance(info([f"EEG {n}" for n in TINY_CH_NAMES], "microvolts"), was, card, None, ONE, None)
    assert units.input_units == ["microvolts"] * 8 and np.array_equal(units.scale, ONE)
    # a stream without units read as µV (the card's unit) that now declares µV: the same factor
    assert check_instance(info(unit=""), info(unit=""), card, None, ONE, None).assumed
    assert not check_instance(info(), info(unit=""), card, None, ONE, None).assumed


def test_reordered_channels_are_named(card):
    with pytest.raises(StreamMismatchError) as exc:
        check_instance(info(TINY_CH_NAMES[::-1]), info(), card, None, ONE, None)
    msg = str(exc.value)
    assert "stream 's' (source_id 'sid') came back as a new outlet instance (uid " in msg
    assert "the label of 8 of its 8 channels changed: channel 0 'Pz' (was 'FC3'), channel 1 'CP4' (was 'FC4')" in msg
    assert "model 'tiny-gru@1.0.0' would read 8 of its 8 channels from another stream channel: 'FC3' from 7 (was 0)" \
        in msg
    assert msg.endswith("start a new decoder")


def test_other_unit_is_named(card):
    with pytest.raises(StreamMismatchError, match=r"the unit of 8 of its 8 channels changed: 'V' \(was "
                                                  r"'uV'\) on channel 0, 1, 2, 3, 4 \.\.\.;.*8 of its channels "
                                                  r"with another unit factor: 'FC3' x1e\+06 \(was x1\)"):
        check_instance(info(unit="V"), info(), card, None, ONE, None)
    # the stream had no units (read as input_unit 'V'); it now declares µV
    with pytest.raises(StreamMismatchError, match=r"'uV' \(was 'V'\) on channel 0, 1"):
        check_instance(info(), info(unit=""), card, None, ONE * 1e6, "V")


def test_unused_channel_relabelled_is_a_change(card):
    was = info(TINY_CH_NAMES + ["EOG"])
    with pytest.raises(StreamMismatchError, match=r"the label of 1 of its 9 channels changed: channel 8 'ECG' "
                                                  r"\(was 'EOG'\)"):
        check_instance(info(TINY_CH_NAMES + ["ECG"]), was, card, None, ONE, None)


def test_model_cannot_read_new_instance(card):
    with pytest.raises(StreamMismatchError, match=r"came back as a new outlet instance \(uid .*\) that model "
                                                  r"'tiny-gru@1.0.0' cannot read: stream 's' lacks 1 of the 8"):
        check_instance(info(TINY_CH_NAMES[:-1] + ["O1"]), info(), card, None, ONE, None)


def test_against_the_running_map_after_a_swap(card):
    """The comparison is with the decoder's current map (after a hot swap it is the new model's), not the first."""
    stream = info(TINY_CH_NAMES[::-1])
    rev = np.arange(8)[::-1].copy()
    assert check_instance(info(TINY_CH_NAMES[::-1]), stream, card, rev, ONE, None).scale.tolist() == ONE.tolist()
    with pytest.raises(StreamMismatchError, match=r"would read 8 of its 8 channels.*'C4' from 3 \(was 4\) \.\.\. "
                                                  r"Refusing"):
        check_instance(info(TINY_CH_NAMES[::-1]), stream, card, None, ONE, None)


def test_full_info_of_a_resolved_instance():
    """A resolved info carries no desc; a short-lived inlet reads the full one."""
    name = unique("fullinfo")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES[::-1], TINY_SFREQ, f"{name}-src"))
    found = pylsl.resolve_bypred(f"name='{name}'", 1, 10.0)
    assert found and read_labels(found[0]) == [None] * 8
    full = fetch_full_info(found[0], found[0], timeout=10.0)
    assert read_labels(full) == TINY_CH_NAMES[::-1] and full.uid() == outlet.get_info().uid()
    del outlet


SENDER = ("import sys, time; sys.path.insert(0, 'tests'); from support.lsl import new_outlet; "
          "o, _ = new_outlet(sys.argv[1], sys.argv[1] + '-src'); print('READY', flush=True); time.sleep(120)")


def _state(pid: int) -> str:
    """A process's state letter (``T``: stopped), from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_a_sender_that_does_not_answer_in_time_is_no_refusal():
    """Flake hunt s47 (5b): a source back unchanged whose sender did not answer the full-info query within the check's
    timeout (starved: a loaded machine) was refused for good (StreamMismatchError, exit code 3, never restarted).
    Now a SourceUnavailableError: the worker ends as after a crash (exit code 1, its reason without a traceback) and
    is restarted from its last state. A real sender process, stopped (SIGSTOP) across the query, then resumed."""
    name = unique("starved")
    proc = subprocess.Popen([sys.executable, "-c", SENDER, name], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert proc.stdout.readline().strip() == "READY"
        found = pylsl.resolve_bypred(f"source_id='{name}-src'", 1, 10.0)[0]
        assert read_labels(fetch_full_info(found, found, timeout=10.0)) == TINY_CH_NAMES
        os.kill(proc.pid, signal.SIGSTOP)
        wait_for(lambda: _state(proc.pid) == "T", 30, "the sender to be stopped")  # not only signalled
        with pytest.raises(SourceUnavailableError) as exc:
            fetch_full_info(found, found, timeout=1.0)
        assert not isinstance(exc.value, StreamMismatchError)
        assert "could not be read within 1 s (its sender did not answer" in str(exc.value)
        code, error = describe_failure(exc.value)
        assert code == 1 and code != EXIT_REFUSED and error == f"{RESTARTED}{exc.value}"
        os.kill(proc.pid, signal.SIGCONT)
        assert read_labels(fetch_full_info(found, found, timeout=10.0)) == TINY_CH_NAMES  # the same, once it answers
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait(timeout=30)
