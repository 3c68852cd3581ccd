"""A recording keeps what the sender says of its stream beside the channels' labels, units and types: its ``desc``
(the amplifier, the reference), each channel's location and impedance, the stream's identity (created_at, uid,
hostname), and the file header says when it was recorded (``datetime``), as LabRecorder's files do (before: the
channels' label, unit and type only; no date: audit s69record F4). Real LSL on loopback, a real pylsl outlet with a
lab-like desc, RecordOnly writing a real XDF file, read back by pyxdf and by the project's reader."""

from __future__ import annotations

import datetime

import numpy as np
import pylsl
import pyxdf

from bci_stream.io import load_recording
from support.common import unique
from support.recorded import record_outlet

NAMES = ["C3", "Cz", "C4"]


def lab_info(name: str) -> pylsl.StreamInfo:
    info = pylsl.StreamInfo(name, "EEG", 3, 250.0, "float32", f"{name}-src")
    desc = info.desc()
    desc.append_child("acquisition").append_child_value("manufacturer", "Acme").append_child_value("model", "X-32")
    desc.append_child("reference").append_child_value("label", "linked ears")
    channels = desc.append_child("channels")
    for k, label in enumerate(NAMES):
        ch = channels.append_child("channel")
        ch.append_child_value("label", label).append_child_value("unit", "microvolts")
        ch.append_child_value("type", "EEG").append_child_value("impedance", f"{5 + k}")
        loc = ch.append_child("location")
        loc.append_child_value("X", f"{k}.5").append_child_value("Y", "1").append_child_value("Z", "2")
    return info


def test_the_senders_description_and_the_date_are_in_the_file(tmp_path):
    name, n = unique("recdesc"), 1000
    outlet = pylsl.StreamOutlet(lab_info(name))
    path = tmp_path / "d.xdf"
    x = np.random.default_rng(2).normal(0, 20, (n, 3)).astype(np.float32)
    record_outlet(path, name, outlet, x)
    streams, header = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    when = datetime.datetime.fromisoformat(header["info"]["datetime"][0])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) < 600
    eeg = next(s for s in streams if s["info"]["name"][0] == name)["info"]
    assert eeg["hostname"][0] and eeg["uid"][0] and eeg["created_at"][0]
    desc = eeg["desc"][0]
    assert desc["acquisition"][0]["manufacturer"] == ["Acme"] and desc["reference"][0]["label"] == ["linked ears"]
    chans = desc["channels"][0]["channel"]
    assert [c["label"] for c in chans] == [[n] for n in NAMES]
    assert [c["location"][0]["X"] for c in chans] == [["0.5"], ["1.5"], ["2.5"]]
    assert [c["impedance"] for c in chans] == [["5"], ["6"], ["7"]]
    rec_back = load_recording(path)
    assert rec_back.ch_names == NAMES and rec_back.n_times == n
