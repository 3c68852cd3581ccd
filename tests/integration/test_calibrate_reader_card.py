"""``bci-stream calibrate`` keeps the reader options it read the cues with in the model's card (``training.reader``)
and its report, and a real service loading the model says in the decoder status's ``scoring.note`` which
``bci-stream replay`` flags send those cues; ``evaluate`` reads other files with them. Before, a calibrated model's
card held none of them: a model calibrated on an XDF with ``--marker-stream Cues`` or on an EEGLAB file with
``--event-fields type,position`` was scored live on the plain markers with no note, and ``evaluate`` of the same
LabRecorder file without ``--marker-stream`` was refused.

Real data: the repository's S001 R05/R06 subset (160 Hz, fists/feet) written as LabRecorder XDF files with two
marker streams (``Cues``: the events; ``Feedback``: another stream, so the marker stream must be named), calibrated
by ``--no-average`` (a single decoder's card); EEGLAB's tutorial data set, whose ``square`` events are told apart
only by their ``position`` field, calibrated with the default (the average's card). Real uvicorn on 127.0.0.1, real
LSL outlets on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pylsl
import pytest
from click.testing import CliRunner

pytest.importorskip("pyxdf")

from bci_stream.cli import main  # noqa: E402
from bci_stream.io import load_recording  # noqa: E402
from support.common import SHARED_DATA, require_full_data, subset_file, unique  # noqa: E402
from support.marked import FAST_CHANNELS, R05, R06, SFREQ  # noqa: E402
from support.xdf import write_xdf  # noqa: E402

pytestmark = [pytest.mark.timeout(300)]
SET = SHARED_DATA / "eeglab" / "eeglab_data.set"
EEGLAB_CHANNELS = ["C3", "Cz", "C4", "P3", "Pz", "P4"]
XDF_MODEL, SET_MODEL = "xdf-cues", "eeglab-fields"
XDF_NOTE = ("this model's cues were read with marker_stream='Cues'; replay the file with --marker-stream Cues to send "
            "the same cues")
SET_NOTE = ("this model's cues were read with event_fields=['type', 'position']; replay the file with --event-fields "
            "type,position to send the same cues")


def lab_xdf(path: Path, src: Path) -> Path:
    """``src``'s samples as stream ``amp``, its T0/T1/T2 events as marker stream ``Cues``, and a ``Feedback`` marker
    stream half a second after each (two string streams: the reader needs ``marker_stream``)."""
    rec = load_recording(subset_file(src))
    stamps = 7000.0 + np.arange(rec.n_times) / SFREQ
    ev = [e for e in rec.events if e.description in ("T0", "T1", "T2")]
    return write_xdf(path, stamps, [("amp", "EEG", rec.ch_names, SFREQ, rec.data.T, "microvolts")],
                     [("Cues", [stamps[e.onset] for e in ev], [e.description for e in ev]),
                      ("Feedback", [stamps[e.onset] + 0.5 for e in ev], ["shown"] * len(ev))])


def calibrate(*args: str) -> str:
    res = CliRunner().invoke(main, ["calibrate", *args, "--no-recurrent", "--no-progress"])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The registry both models are calibrated into."""
    return tmp_path_factory.mktemp("reader-card") / "models"


@pytest.fixture(scope="module")
def xdfs(out: Path) -> list[Path]:
    """The two XDF files, after ``calibrate --marker-stream Cues --no-average`` calibrated :data:`XDF_MODEL` on them."""
    files = [lab_xdf(out.parent / f"{src.stem}.xdf", src) for src in (R05, R06)]
    calibrate(*map(str, files), "--labels", "T1=fists,T2=feet", "--name", XDF_MODEL, "--out", str(out),
              "--channels", ",".join(FAST_CHANNELS), "--marker-stream", "Cues", "--no-average", "--no-combined")
    return files


@pytest.fixture(scope="module")
def eeglab_model(out: Path) -> str:
    """:data:`SET_MODEL`, calibrated with ``--event-fields type,position`` (and the default average)."""
    path = require_full_data(SET, SHARED_DATA / "eeglab" / "eeglab_data.fdt")
    calibrate(str(path), "--labels", "square/1=one,square/2=two", "--name", SET_MODEL, "--out", str(out),
              "--channels", ",".join(EEGLAB_CHANNELS), "--event-fields", "type,position")
    return SET_MODEL


def card_and_report(out: Path, name: str) -> tuple[dict, dict, str]:
    """The model's card, report.json and report.md's ``* files:`` line."""
    md = (out / name / "report" / "report.md").read_text().splitlines()
    return (json.loads((out / name / "model.json").read_text()),
            json.loads((out / name / "report" / "report.json").read_text()),
            next(ln for ln in md if ln.startswith("* files:")))


def test_an_xdf_calibrated_card_holds_its_marker_stream(out: Path, xdfs: list[Path]) -> None:
    card, report, files = card_and_report(out, XDF_MODEL)
    assert card["training"]["tool"] == "bci-stream calibrate"
    assert card["training"]["reader"] == {"marker_stream": "Cues"}
    assert card["training"]["family_config"]["family"] in ("csp_lda", "riemann")  # --no-average: one decoder's card
    assert report["reader"] == {"marker_stream": "Cues"} and files.endswith("(read with --marker-stream Cues)"), files


def test_an_eeglab_calibrated_card_holds_its_event_fields(out: Path, eeglab_model: str) -> None:
    card, report, files = card_and_report(out, eeglab_model)
    assert card["training"]["reader"] == report["reader"] == {"event_fields": ["type", "position"]}
    assert card["training"]["family_config"]["family"] == "ensemble"  # the average's card
    assert files.endswith("(read with --event-fields type,position)"), files


def test_an_eeglab_calibration_warns_of_the_responses_within_its_decision_time(out: Path, eeglab_model: str) -> None:
    """Audit s43, F5: a button press (``rt``) 0.41 s after 75 of the 80 cues, within every window calibrate decides
    at (2 s). evaluate warned of those 75 trials; calibrate counted only the gaps between cues and said nothing."""
    card, report, _ = card_and_report(out, eeglab_model)
    said = [w for w in card["metrics"]["warnings"] if w.startswith("eeglab_data.set: 80 cue(s) of the trial classes")]
    assert len(said) == 1 and "median gap 0.41 s) comes at or before the decision time for 75 of them at 2 s" in said[0]
    assert said[0].endswith("(its CV accuracy may be the decoding of that event, e.g. a button press: map only cues "
                            "whose next event comes after the decision time, or see whether the decoder serves "
                            "without it)"), said


def test_evaluate_reads_other_files_as_the_model_was_calibrated(out: Path, xdfs: list[Path]) -> None:
    """The file has two marker streams: read as calibrate read it (``Cues``), without ``--marker-stream``."""
    res = CliRunner().invoke(main, ["evaluate", XDF_MODEL, "--models-dir", str(out), "--data", str(xdfs[1]),
                                    "--labels", "T1=fists,T2=feet"])
    assert res.exit_code == 0, res.output
    assert "trial accuracy" in res.output, res.output


def test_a_service_serving_the_models_names_the_replay_flags(out: Path, xdfs: list[Path], eeglab_model: str) -> None:
    from bci_stream.api.server import BackgroundServer
    from bci_stream.core.settings import Settings
    from bci_stream.lsl.info import make_stream_info
    from faults.kit import start_running
    from support.http import wait_status

    settings = Settings(host="127.0.0.1", port=0, models_dir=out, status_interval=0.1)
    outlets, notes = [], {}
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0) as client:
        for model in (XDF_MODEL, SET_MODEL):
            card = json.loads((out / model / "model.json").read_text())
            name = unique(model)
            outlets.append(pylsl.StreamOutlet(make_stream_info(name, "EEG", card["ch_names"], card["sfreq"], name)))
            decoder_id = start_running(client, name, model)
            st = wait_status(client, decoder_id, lambda s: "note" in (s.get("scoring") or {}), 90,
                             f"{model}'s scoring in its status")  # the marker hub reports after the decoder runs
            notes[model] = st["scoring"]["note"]
            client.delete(f"/decoders/{decoder_id}")
    del outlets
    assert notes[XDF_MODEL] is not None and notes[XDF_MODEL].startswith(XDF_NOTE), notes
    assert notes[SET_MODEL] is not None and notes[SET_MODEL].startswith(SET_NOTE), notes
