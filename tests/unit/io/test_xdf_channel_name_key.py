"""An XDF stream whose ``desc/channels`` entries carry ``name`` and no ``label`` (as some senders write them) is read
by those names, as the live service reads such a stream (:func:`bci_stream.lsl.info.read_labels`): before, the
reader numbered its channels 1..n, so a model calibrated on the recording had channels the live stream has not
(audit s69io F7). Real files written by the project's XDF chunk writer, read by pyxdf."""

from __future__ import annotations

import numpy as np
import pylsl

from bci_stream.io import load_recording
from bci_stream.io.xdf_chunks import XdfWriter
from bci_stream.lsl.info import read_labels

NAMES = ["Fp1", "Fp2", "C3", "C4"]


def write(path, entries: str):
    xml = ('<?xml version="1.0"?><info><name>amp</name><type>EEG</type><channel_count>4</channel_count>'
           '<nominal_srate>250</nominal_srate><channel_format>float32</channel_format><source_id>x</source_id>'
           f'<desc><channels>{entries}</channels></desc></info>')
    t = 100 + np.arange(500) / 250.0
    with path.open("wb") as f:
        w = XdfWriter(f)
        w.add_stream(1, xml, "float32", 4)
        w.write_numeric(1, t, np.random.default_rng(0).normal(0, 20, (500, 4)))
        w.write_clock_offset(1, t[0], 0.0)
        w.close_stream(1)
    return path


def test_entries_named_by_name_are_read_by_it_as_live():
    info = pylsl.StreamInfo("amp", "EEG", 4, 250, "float32", "x")
    channels = info.desc().append_child("channels")
    for c in NAMES:
        channels.append_child("channel").append_child_value("name", c)
    assert read_labels(info) == NAMES


def test_the_reader_takes_name_where_no_entry_has_a_label(tmp_path):
    named = "".join(f"<channel><name>{c}</name><unit>microvolts</unit></channel>" for c in NAMES)
    assert load_recording(write(tmp_path / "n.xdf", named)).ch_names == NAMES
    both = "".join(f"<channel><label>{c}</label><name>x{c}</name><unit>microvolts</unit></channel>" for c in NAMES)
    assert load_recording(write(tmp_path / "b.xdf", both)).ch_names == NAMES  # a label wins
    some = "<channel><label>Fp1</label></channel>" + "<channel><name>y</name></channel>" * 3
    assert load_recording(write(tmp_path / "s.xdf", some)).ch_names == ["Fp1", "2", "3", "4"]  # labels, as live
