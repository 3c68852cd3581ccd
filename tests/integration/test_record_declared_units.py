"""``bci-stream record`` judges a stream's amplitude in the unit the stream declares (and the file is written in).

Before: every stream was judged in ``--input-unit`` (µV by default), declared unit or not, so mne-lsl's
``PlayerLSL`` streaming a real EDF in volts, declaring volts (MNE's ``unit_mul`` ``"0"``), was told "declares its
channels in 'uV' ... the sender's values are not in the unit it declares", a correct sender sent off to be
"corrected" by 1e6. A sender whose values do not fit its declared unit is still warned about, naming that unit.
"""

from __future__ import annotations

import numpy as np
import pylsl
import pytest
from click.testing import CliRunner
from mne_lsl.player import PlayerLSL

from bci_stream.cli import main
from bci_stream.io import load_recording
from bci_stream.lsl.info import make_stream_info
from support.common import TEST_DATA, TINY_CH_NAMES, test_signal, unique
from support.pacing import PacedPusher

pytestmark = pytest.mark.filterwarnings("ignore:.*End of file reached with an empty chunk:RuntimeWarning")

WRONG = "declares its channels in"


def test_a_playerlsl_stream_in_volts_declaring_volts_is_recorded_without_a_unit_warning(tmp_path):
    import mne

    edf = TEST_DATA / "eegmmidb" / "S001" / "S001R06.edf"
    raw = mne.io.read_raw_edf(edf, preload=True, verbose="error").crop(tmax=8.0, include_tmax=False)
    name, out = unique("plv"), tmp_path / "p.xdf"
    player = PlayerLSL(raw, chunk_size=10, n_repeat=1, name=name, source_id=f"{name}-src")
    player.start()
    try:
        res = CliRunner().invoke(main, ["record", "--stream", name, "--out", str(out), "--duration", "4"])
    finally:
        if player.running:
            player.stop()
    assert res.exit_code == 0, res.output
    assert WRONG not in res.output and "plausible if" not in res.output, res.output
    rec = load_recording(out)
    assert rec.n_times > 2 * 160  # past the 2 s the check looks at
    assert set(rec.units()) == {"microvolts"}  # volts as declared, read back in µV
    sd = float(np.median(rec.data.std(axis=1)))
    assert 0.5 < sd < 5000.0  # scalp EEG in µV: the file's unit was right, as the sender's was


def test_a_declared_unit_that_the_values_do_not_fit_is_still_warned_about_naming_that_unit(tmp_path):
    """An outlet declaring mV and sending µV-sized numbers (SD ~10 µV read as 10 mV)."""
    name, out = unique("mvx"), tmp_path / "m.xdf"
    info = make_stream_info(name, "EEG", TINY_CH_NAMES, 500.0, f"{name}-src", unit="mV")
    pusher = PacedPusher(pylsl.StreamOutlet(info, 10), test_signal(15_000, seed=7), 500.0)
    pusher.start()
    try:
        res = CliRunner().invoke(main, ["record", "--stream", name, "--out", str(out), "--duration", "3"])
    finally:
        pusher.halt.set()
    assert res.exit_code == 0, res.output
    assert f"stream '{name}' {WRONG} 'mV'" in res.output, res.output
    assert "plausible if the values are in µV" in res.output
