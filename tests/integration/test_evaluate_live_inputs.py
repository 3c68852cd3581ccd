"""`bci-stream evaluate --live` on a recording as calibrate takes it (audits s14: calibrate #4/#8, interop #4).

20 s of S001R06 (the repository's subset, 64 channels at 160 Hz), with one second of NaN on one channel, recorded in
the service's own layout (real Recorder: zero-duration cue markers) under numbered channel names: evaluate needs
``--channel-names`` to find the calibrate-made model's channels, scores the cues from their onsets, replays the file
through a real in-process service on LSL (loopback), and its table (printed and ``evaluation_live.txt``) says how many
non-finite values the service replaced and leaves out the trial they touch, as offline evaluate does.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("pyxdf")

from bci_stream.cli import main  # noqa: E402
from support.common import REPO, SUBSET_R06, subset_file  # noqa: E402

pytestmark = [pytest.mark.timeout(180)]


def test_live_evaluation_of_a_numbered_service_recording_with_nans(tmp_path):
    from bci_stream.io import load_recording
    from support.session_xdf import crop, service_session

    rec = crop(load_recording(subset_file(SUBSET_R06)), 20.0)
    rec.data[3, 1600:1760] = np.nan
    path = service_session(tmp_path / "numbered.xdf", rec, [str(i + 1) for i in range(rec.n_chans)])
    names = tmp_path / "names.txt"
    names.write_text("\n".join(rec.ch_names) + "\n")
    res = CliRunner().invoke(main, ["evaluate", "eegmmidb-s001", "--models-dir", str(REPO / "models"), "--data",
                                    str(path), "--live", "--speed", "8", "--channel-names", str(names),
                                    "--out", str(tmp_path / "ev")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    js = json.loads((tmp_path / "ev" / "evaluation_live.json").read_text())
    f = js["files"][0]
    assert js["checks"]["passed"] and f["sent"] == f["decoded"] == 3200 and f["n_trials"] == 1, f  # the 2nd
    # cue's trial touches the NaN second + settling: left out, as offline evaluate leaves it out
    assert "note: left out 1 trial(s) of numbered.xdf: 1 overlap non-finite samples + 3.2 s settling (fists 1)" \
        in res.output
    assert f["index_anchor"] == "5 cue markers" and f["nonfinite_values"] == 160
    note = ("note: numbered.xdf: the service replaced 160 non-finite value(s) (NaN/inf, or beyond ±1 V) in the "
            "model's channels by the channel's last finite value (nan_policy hold)")
    assert note in res.output and note in (tmp_path / "ev" / "evaluation_live.txt").read_text()
    assert "note: numbered.xdf: its 2 cue(s) have no duration (markers)" in res.output
