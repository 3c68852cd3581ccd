"""A channel the file marks bad that a model needs is read like any other, and ``evaluate``'s loader and ``replay``
say so in one line (the stream cannot carry the mark). A real FIF file written with mne (``info['bads']``) from the
repository's EDF subset; replay streams it over real LSL (loopback) at high speed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.io import load_recording
from bci_stream.train.evaluate.inputs import load_for_model
from support.common import SUBSET_S001_21CH, subset_file, unique

mne = pytest.importorskip("mne")


@pytest.fixture(scope="module")
def fif_with_bad_c4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rec = load_recording(subset_file(SUBSET_S001_21CH / "S001R05.edf"))
    info = mne.create_info(rec.ch_names, rec.sfreq, ch_types="eeg", verbose="error")
    info["bads"] = ["C4.."]
    raw = mne.io.RawArray(rec.data * 1e-6, info, verbose="error")
    raw.set_annotations(mne.Annotations([e.onset / rec.sfreq for e in rec.events], [0.0] * len(rec.events),
                                        [e.description for e in rec.events]))
    path = tmp_path_factory.mktemp("bads") / "bad_c4_raw.fif"
    raw.save(path, verbose="error")
    return path


def test_evaluate_says_when_the_model_reads_a_channel_the_file_marks_bad(fif_with_bad_c4: Path) -> None:
    labels = {"T1": "fists", "T2": "feet"}
    bad_note = "bad_c4_raw.fif: the model uses 1 channel(s) this file marks bad: C4.. (read as any other channel)"
    assert bad_note in load_for_model(fif_with_bad_c4, labels, ["C3", "C4"]).notes
    assert not any("marks bad" in n for n in load_for_model(fif_with_bad_c4, labels, ["C3", "Cz"]).notes)


def test_replay_says_which_channels_the_file_marks_bad(fif_with_bad_c4: Path) -> None:
    result = CliRunner().invoke(main, ["replay", str(fif_with_bad_c4), "--name", unique("s17-bads"), "--speed", "400",
                                       "--linger", "0"])
    assert result.exit_code == 0, result.output
    assert "note: bad_c4_raw.fif marks 1 channel(s) bad: C4..; streamed as any other channel" in result.output
