"""``evaluate --labels`` that maps an event to another class than the model's own label map is said (audit s51).

Before: ``bci-stream evaluate s001 --data S001R10.edf --labels T1=feet,T2=fists`` of a model calibrated with
``--labels T1=fists,T2=feet`` scored 2 of 15 trials at 2 s (sample accuracy 0.19) with no word of why: the classes
were swapped. Calibrate says such figures are "WORSE than chance ... events swapped?"; evaluate said nothing. Now a
warning names each event mapped otherwise, with the model's own mapping (offline, in ``warnings``; with ``--live``,
before the replay and in the notes).
"""

from __future__ import annotations

from bci_stream.train.evaluate.offline import evaluate_target
from support.common import REPO, SUBSET_S001_21CH, subset_file

MODELS = REPO / "models"
MODEL = "eegmmidb-s001-gru"  # bundled: 21 channels, label map T0=rest, T1=fists, T2=feet
R06 = SUBSET_S001_21CH / "S001R06.edf"


def _remapped(res: dict) -> list[str]:
    return [w for w in res["warnings"] if w.startswith("--labels maps")]


def test_swapped_labels_are_said_with_the_models_own_map() -> None:
    res = evaluate_target(MODEL, [subset_file(R06)], label_map={"T1": "feet", "T2": "fists"}, models_dir=MODELS,
                          times_s=(2.0,))
    (said,) = _remapped(res)
    assert "T1=feet (the model's: T1=fists)" in said and "T2=fists (the model's: T2=feet)" in said
    assert "leave --labels out" in said


def test_the_models_own_mapping_or_a_subset_of_it_is_not_said() -> None:
    res = evaluate_target(MODEL, [subset_file(R06)], label_map={"T1": "fists", "T2": "feet", "T0": None},
                          models_dir=MODELS, times_s=(2.0,))
    assert not _remapped(res)
    res = evaluate_target(MODEL, [subset_file(R06)], models_dir=MODELS, times_s=(2.0,))  # the model's own map
    assert not _remapped(res)


def test_only_events_both_maps_give_a_class_are_compared() -> None:
    from bci_stream.train.evaluate.inputs import remapped_events

    own = {"T0": "rest", "T1": "fists", "T2": "feet"}
    assert remapped_events({"T0": None, "T1": "fists", "S 1": "feet"}, own) == []
    assert remapped_events({"T1": "fists"}, None) == []
    (said,) = remapped_events({"T0": "fists", "T1": "rest"}, own)
    assert said.startswith("--labels maps 2 event(s) to another class")
