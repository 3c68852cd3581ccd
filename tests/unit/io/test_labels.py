"""Label-map refusals that say which reader option may give the event names asked for."""

from __future__ import annotations


def test_a_missing_label_names_the_reader_option_that_may_give_it() -> None:
    """Audit s64cal F5: ``--labels square/1=...`` on an EEGLAB file, ``target=...`` on a BCI2000 P300 run: the refusal
    listed the default reading's names only, nothing of ``--event-fields`` / ``--type-state``."""
    from bci_stream.io.labels import reader_hint

    eeglab = reader_hint(["square/1"], ["a/eeglab_data.set"], {})
    assert "--event-fields type,FIELD" in eeglab and "BCI2000" not in eeglab
    assert reader_hint(["square/1"], ["a/eeglab_data.set"], {"event_fields": ["type", "position"]}) == ""
    assert reader_hint(["square"], ["a/eeglab_data.set"], {}) == ""  # no TYPE/VALUE name asked for
    p300 = reader_hint(["target"], ["eeg3_1.dat"], {})
    assert "--type-state NAME" in p300 and "StimulusType" in p300
    assert reader_hint(["target"], ["eeg3_1.dat"], {"type_state": "StimulusType"}) == ""
    assert reader_hint(["7"], ["eeg3_1.dat"], {}) == ""  # a code: StimulusCode's own kind of name
    assert reader_hint(["T3"], ["S001R05.edf"], {}) == ""
