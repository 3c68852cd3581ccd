"""A ``--labels`` event that no file has names the event it likely meant (audit s51): one named the same but for
case, blanks or a ``TYPE/`` prefix.

Before: the errors listed every event of the files, but a BrainVision marker typed with one blank (``Stimulus/S 1``
for Recorder's ``Stimulus/S  1``), EEGMMIDB's ``T1`` typed ``t1``, or ``T1`` for the ``Comment/T1`` of an EDF run
exported to BrainVision by mne, left the user to compare the quoted names by eye. Now: ``did you mean 'Stimulus/S  1'
for 'Stimulus/S 1'? (an event name must match exactly ...)``, in calibrate's and evaluate's errors. Real EEG: the
repository's S001 subset (EDF, and R05 written as BrainVision with Recorder's stimulus markers).
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.io.recording import Event
from support.brainvision import subset_brainvision
from support.common import REPO, SUBSET_S001_21CH, subset_file

R05, R06 = SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R06.edf"
EXACT = "(an event name must match exactly: its case, blanks and TYPE/ prefix included)"


def _run(*args: str):
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    return res.output


def test_calibrate_names_the_brainvision_marker_a_typo_meant(tmp_path: Path) -> None:
    vhdr = subset_brainvision(tmp_path / "run", R05, n_times=16000)
    out = _run("calibrate", "--no-progress", str(vhdr), "--labels", "Stimulus/S 1=fists,S  2=feet", "--name", "x",
               "--out", str(tmp_path / "models"))
    assert f"did you mean 'Stimulus/S  1' for 'Stimulus/S 1', 'Stimulus/S  2' for 'S  2'? {EXACT}" in out, out


def test_calibrate_and_evaluate_name_the_event_of_another_case(tmp_path: Path) -> None:
    out = _run("calibrate", "--no-progress", str(subset_file(R05)), "--labels", "t1=fists,T2=feet", "--name", "x",
               "--out", str(tmp_path / "models"))
    assert f"did you mean 'T1' for 't1'? {EXACT}" in out, out
    out = _run("evaluate", "eegmmidb-s001-gru", "--models-dir", str(REPO / "models"), "--data", str(subset_file(R06)),
               "--labels", "t1=fists,t2=feet")
    assert f"did you mean 'T1' for 't1', 'T2' for 't2'? {EXACT}" in out, out


def test_only_case_blanks_and_a_type_prefix_are_looked_past() -> None:
    from bci_stream.io.labels import near_names

    events = [Event(0, 1, "Stimulus/S  1"), Event(5, 1, "Comment/T1"), Event(9, 1, "T0")]
    assert near_names(["T1"], events).startswith("; did you mean 'Comment/T1' for 'T1'?")
    assert near_names(["1", "T3", "S 3"], events) == ""  # a bare code, another name: no guess


def test_a_type_prefix_typed_for_an_event_that_has_none_is_looked_past() -> None:
    """Review s51 F5: ``--labels 'Stimulus/S  1'`` for a file whose events are ``S  1`` (a reader that gives the code
    alone) named nothing; a prefix of another type is never guessed for one typed (Response for Stimulus)."""
    from bci_stream.io.labels import near_names

    assert near_names(["Stimulus/S  1"], [Event(0, 1, "S  1")]).startswith("; did you mean 'S  1' for 'Stimulus/S  1'?")
    assert near_names(["Stimulus/S  1"], [Event(0, 1, "Response/S  1")]) == ""
