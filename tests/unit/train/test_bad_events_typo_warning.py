"""A ``--bad-events`` name that no file has (audit s52cal, finding 4): before, ``evaluate`` and ``calibrate`` said it
in a ``note:`` only, so a typo silently left the bad data in. Now it is a ``warning:`` naming the flag, the name, the
events named alike (case, blanks, TYPE/ prefix, as ``--labels`` typos are hinted) or spelt closest, and the files'
events. Real EEG: the repository's S001 R10 subset and the bundled GRU."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from support.common import REPO, SUBSET_S001_21CH, subset_file

pytest.importorskip("mne")

GRU = REPO / "models" / "eegmmidb-s001-gru"
R10 = SUBSET_S001_21CH / "S001R10.edf"


@pytest.mark.parametrize(("name", "hint"), [
    ("t0", "; did you mean 'T0' for 't0'? (an event name must match exactly: its case, blanks and TYPE/ prefix "
           "included)"),
    ("T00", "; the nearest event names in the files: 'T0'"),
])
def test_evaluate_warns_of_a_bad_event_no_file_has_with_the_names_near_it(name: str, hint: str) -> None:
    res = CliRunner().invoke(main, ["evaluate", str(GRU), "--data", str(subset_file(R10)), "--bad-events", name])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if f"['{name}']" in ln)
    assert line == (f"warning: --bad-events names event(s) ['{name}'] that no file has: no trial is left out for them"
                    f"{hint} (the files' events: 'T0', 'T1', 'T2')"), res.output
