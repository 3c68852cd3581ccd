"""calibrate says when the shipped decoder was fitted with fewer CSP components or tangent-space dimensions than its
config label (``m=``, ``n=``) says: few channels cap them (audit s44b: ``--channels C3,Cz,C4`` gave ``m=4`` and
``n=16csp`` in the report, 2 and 3 in the card), naming the channels of the parts it capped (audit s46: an average
whose capped members read 6 channels said "128 channel(s) give no more directions", its union's count)."""

from __future__ import annotations

from bci_stream.train.classical.calibration_inputs import load_calibration
from bci_stream.train.classical.calibration_report import size_notes
from bci_stream.train.classical.configs import DEFAULT_CSP, DEFAULT_RIEMANN, with_
from bci_stream.train.classical.prepared import all_trials
from bci_stream.train.classical.ensemble import EnsembleConfig, fit_ensemble
from bci_stream.train.classical.fit import fit
from support.common import SUBSET_S001_21CH

R05, R06 = SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R06.edf"
LABELS = {"T1": "fists", "T2": "feet"}


def test_sizes_capped_by_three_channels_are_said_and_full_ones_are_not() -> None:
    three = load_calibration([R05, R06], LABELS, channels=["C3", "Cz", "C4"])
    sel = all_trials(three, range(len(three.runs)))
    csp, rie = (with_(c, channels=tuple(three.ch_names)) for c in (DEFAULT_CSP, DEFAULT_RIEMANN))
    cfg = EnsembleConfig(members=(csp, csp, rie))
    notes = size_notes(fit_ensemble(three, sel, cfg), cfg)
    assert len(notes) == 1 and "3 channel(s) give no more directions" in notes[0]
    assert f"(csp_lda m=2, not m={csp.n_components} (x2); riemann n=3, not n={rie.n_dims})" in notes[0]
    assert size_notes(fit(three, sel, csp), csp) == [f"the shipped decoder was fitted with fewer components than its "
                                                     f"config label says (csp_lda m=2, not m={csp.n_components}): 3 "
                                                     "channel(s) give no more directions holding signal; the card's "
                                                     "architecture holds the fitted sizes"]
    full = load_calibration([R05, R06], LABELS)
    sel = all_trials(full, range(len(full.runs)))
    assert size_notes(fit(full, sel, DEFAULT_CSP), DEFAULT_CSP) == []


def test_an_average_names_the_channels_of_its_capped_members_not_of_its_union() -> None:
    full = load_calibration([R05, R06], LABELS)
    sel = all_trials(full, range(len(full.runs)))
    three = with_(DEFAULT_CSP, channels=("C3", "Cz", "C4"))
    cfg = EnsembleConfig(members=(three, DEFAULT_RIEMANN))
    params = fit_ensemble(full, sel, cfg)
    assert len(params.ch_names) == 21
    (note,) = size_notes(params, cfg)
    assert f"(csp_lda m=2, not m={three.n_components}): 3 channel(s) give no more directions" in note, note


def test_calibrate_says_the_capped_sizes_on_the_console_too(tmp_path) -> None:
    """Before: in the report and the card only (audit s60cal O4)."""
    from click.testing import CliRunner

    from bci_stream.cli import main

    res = CliRunner().invoke(main, ["calibrate", str(R05), str(R06), "--labels", "T1=fists,T2=feet", "--name", "three",
                                    "--out", str(tmp_path), "--channels", "C3,Cz,C4", "--no-progress"])
    assert res.exit_code == 0, res.output
    said = [line for line in res.output.splitlines() if "fewer components than its config label" in line]
    assert len(said) == 1 and said[0].startswith("note: the shipped decoder was fitted with fewer"), res.output
