"""The live score of an ended worker generation stays in the status (``scoring.before_restart``) in every state of
the generations after it (review s52rev F3): while a restarted worker is attached and connecting (its fresh status
has no scoring), when it never scores (its stream gone: it ends in ``error`` with none), and when its scoring is
``off``. Before, the score showed only while the new generation had a score of its own. The supervisor's own
DecoderHandle and WorkerStatus, as the status pipe gives them."""

from __future__ import annotations

from bci_stream.core.spec import DecoderSpec
from bci_stream.core.status import WorkerStatus
from bci_stream.service.backends.handle import NOT_SCORING_YET, DecoderHandle

SCORE = {"model": "m@1.0.0", "source": "card", "marker_map": {"T1": "a", "T2": "b"}, "decision_time_s": 2.0,
         "trials": 3, "correct": 3, "accuracy": 1.0, "markers_received": 7, "previous": None}


def handle_after_one_scored_generation() -> DecoderHandle:
    handle = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m"}))
    handle.generation = 1
    handle.take_status(1, WorkerStatus(state="running", scoring=dict(SCORE)))
    handle.generation = 2  # the worker died; a new one is attached
    return handle


def kept(status: WorkerStatus) -> list[tuple[int, int, int]]:
    return [(s["generation"], s["trials"], s["correct"]) for s in status.scoring["before_restart"]]


def test_a_restarted_workers_fresh_status_keeps_the_ended_generations_score() -> None:
    handle = handle_after_one_scored_generation()
    handle.status = handle.new_generation_status(WorkerStatus(pid=1, state="starting"))
    assert handle.status.scoring["off"] == NOT_SCORING_YET and kept(handle.status) == [(1, 3, 3)]


def test_a_generation_that_never_scores_keeps_it_to_its_final_status() -> None:
    handle = handle_after_one_scored_generation()
    handle.status = handle.new_generation_status(WorkerStatus(pid=1, state="starting"))
    handle.take_status(2, WorkerStatus(state="connecting"))
    assert kept(handle.status) == [(1, 3, 3)]
    handle.take_status(2, WorkerStatus(state="error", error="no LSL stream matched name='x' within 10 s"))
    assert handle.status.scoring["off"] == NOT_SCORING_YET and kept(handle.status) == [(1, 3, 3)]


def test_a_generation_whose_scoring_is_off_says_why_beside_the_earlier_score() -> None:
    handle = handle_after_one_scored_generation()
    handle.take_status(2, WorkerStatus(state="running", scoring={"off": "no marker map"}))
    assert handle.status.scoring["off"] == "no marker map" and kept(handle.status) == [(1, 3, 3)]


def test_each_ended_generation_is_kept_once() -> None:
    handle = handle_after_one_scored_generation()
    handle.status = handle.new_generation_status(WorkerStatus(pid=1, state="starting"))
    handle.take_status(2, WorkerStatus(state="running", scoring={**SCORE, "trials": 1, "correct": 0}))
    handle.take_status(2, WorkerStatus(state="running", scoring={**SCORE, "trials": 2, "correct": 1}))
    assert kept(handle.status) == [(1, 3, 3)] and handle.status.scoring["trials"] == 2
    handle.generation = 3
    handle.status = handle.new_generation_status(WorkerStatus(pid=2, state="starting"))
    handle.take_status(3, WorkerStatus(state="connecting"))
    assert kept(handle.status) == [(1, 3, 3), (2, 2, 1)]


def test_a_generation_ended_under_a_scoring_off_swap_keeps_the_earlier_models_score() -> None:
    """A worker that had swapped to a model whose scoring is off, carrying the earlier model's score in
    ``previous`` (review s52rev F8), and then died: that score stays, said to be under a swap."""
    handle = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m"}))
    handle.generation = 1
    off = {"off": "model c@1.0.0: the card's training.label_map names classes ...", "previous": dict(SCORE),
           "before_previous": []}
    handle.take_status(1, WorkerStatus(state="running", scoring=off))
    handle.generation = 2
    handle.status = handle.new_generation_status(WorkerStatus(pid=1, state="starting"))
    (ended,) = handle.status.scoring["before_restart"]
    assert ended["generation"] == 1 and ended["off"] == off["off"] and ended["trials"] is None, ended
    assert (ended["previous"]["model"], ended["previous"]["trials"]) == ("m@1.0.0", 3), ended
