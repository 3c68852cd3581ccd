"""``StreamLook``: the look a decoder or a recording reads while it waits for its stream (real liblsl resolvers,
real outlets on loopback). Before, they looked with one-shot resolves of 0.5 s, and liblsl 1.18 returned one for an
absent stream after 5.5 s on about every other call: a DELETE waited that long (audit s65api F1)."""

from __future__ import annotations

import time

import pylsl

from bci_stream.lsl.look import LOOK_FORGET_S, StreamLook
from bci_stream.lsl.source import build_predicate
from support.common import unique
from support.lsl import new_outlet


def found_uids(look: StreamLook, want: set[str], timeout: float = 30.0) -> set[str]:
    """The uids ``look`` finds once it finds ``want`` (or what it found last, after ``timeout`` s)."""
    deadline, got = time.monotonic() + timeout, set()
    while time.monotonic() < deadline:
        got = {i.uid() for i in look.found()}
        if got == want:
            break
        time.sleep(0.05)
    return got


def test_an_absent_stream_is_not_found_and_a_present_one_is():
    name = unique("look")
    look = StreamLook(build_predicate(name, None, None, None))
    assert look.resolver is not None
    assert look.found() == []  # read at once, nothing there
    outlet, _ = new_outlet(name, f"{name}-src")
    uid = outlet.get_info().uid()
    assert found_uids(look, {uid}) == {uid}


def test_a_stream_that_went_is_left_out_while_the_resolver_may_still_list_it_then_found_again_if_still_there():
    """``went``: a stream found that went away before its inlet opened is not found again at once (the resolver
    lists a gone stream up to ``LOOK_FORGET_S``); one still answering after that is (it was only slow once)."""
    name = unique("look-went")
    outlet, _ = new_outlet(name, f"{name}-src")
    uid = outlet.get_info().uid()
    look = StreamLook(build_predicate(name, None, None, None))
    assert found_uids(look, {uid}) == {uid}
    look.went(uid)
    assert look.found() == []
    went_at = pylsl.local_clock()
    while pylsl.local_clock() - went_at <= LOOK_FORGET_S:
        time.sleep(0.1)
    assert found_uids(look, {uid}) == {uid}


def test_two_streams_the_predicate_matches_are_both_found_and_one_closed_leaves():
    name = unique("look-two")
    first, _ = new_outlet(name, f"{name}-a")
    second, _ = new_outlet(name, f"{name}-b")
    uids = {first.get_info().uid(), second.get_info().uid()}
    look = StreamLook(build_predicate(name, None, None, None))
    assert found_uids(look, uids) == uids
    kept = second.get_info().uid()
    del first
    assert found_uids(look, {kept}) == {kept}  # forgotten once it answers no more (LOOK_FORGET_S)
