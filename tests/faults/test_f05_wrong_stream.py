"""Fault 5: a stream with the wrong channel count, rate, format or labels, at start and mid-stream."""

from __future__ import annotations

import numpy as np
import pylsl
from prometheus_client.parser import text_string_to_metric_families

from bci_stream.core.registry import ModelRegistry
from bci_stream.lsl.info import make_stream_info
from bci_stream.engine.offline import decode_offline
from bci_stream.service.worker import EXIT_REFUSED
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from faults.kit import (alive, assert_service_up, left_its_worker, post_decoder, released, start_running,
                        status)
from support.pacing import push_paced
from support.http import wait_status
from support.lsl import pull_all
from support.lsl import new_outlet, open_output


def bad_streams() -> dict[str, tuple[pylsl.StreamInfo, str]]:
    """Streams that tiny-gru (8 channels FC3..Pz, 500 Hz, numeric) must refuse, and the error expected."""
    s = {k: unique(k) for k in ("count", "rate", "irregular", "format", "labels")}
    return {
        "count": (pylsl.StreamInfo(s["count"], "EEG", 16, TINY_SFREQ, "float32", f"{s['count']}-src"),
                  f"stream '{s['count']}' has 16 channels and no channel labels; model 'tiny-gru@1.0.0' needs "
                  "n_chans=8"),
        "rate": (make_stream_info(s["rate"], "EEG", TINY_CH_NAMES, 1000.0, f"{s['rate']}-src"),
                 f"stream '{s['rate']}' has sfreq=1000 Hz; model 'tiny-gru@1.0.0' needs sfreq=500 Hz"),
        "irregular": (make_stream_info(s["irregular"], "EEG", TINY_CH_NAMES, 0.0, f"{s['irregular']}-src"),
                      f"stream '{s['irregular']}' has an irregular rate (nominal_srate 0); model 'tiny-gru@1.0.0' needs sfreq=500 Hz"),
        "format": (pylsl.StreamInfo(s["format"], "EEG", 8, TINY_SFREQ, "string", f"{s['format']}-src"),
                   f"stream '{s['format']}' has channel format string; model 'tiny-gru@1.0.0' needs a numeric "
                   "format (float32, double64, int8, int16, int32 or int64)"),
        "labels": (make_stream_info(s["labels"], "EEG", [f"X{i}" for i in range(8)], TINY_SFREQ, f"{s['labels']}-src"),
                   f"stream '{s['labels']}' lacks 8 of the 8 channels model 'tiny-gru@1.0.0' needs: FC3, FC4, C3, Cz, "
                   "C4, CP3, CP4, Pz "
                   "(stream has 8 channels: X0, X1"),
    }


def test_wrong_channel_count_rate_format_or_labels(client, server, worker_kind):
    """Five decoders at once on streams tiny-gru cannot decode (16 unlabelled channels, 1000 Hz, an
    irregular rate, strings, other channel labels) and one on a good stream, all of one worker kind.
    Expected: each bad one goes to ``error`` with a message naming the parameter, the stream's value and
    the model's; it leaves its worker with the 'refused' exit code (dedicated: its process ends; shared:
    its slot leaves the shared worker, which goes on serving its other streams) and is not restarted; it
    reads its stream no more; /decoders, /ready and /metrics show it; the good decoder decodes every
    sample meanwhile (in = out, no loss), also where it shares a worker with refused ones; the service
    stays up."""
    streams = bad_streams()
    outlets = {k: pylsl.StreamOutlet(info) for k, (info, _) in streams.items()}
    ids = {k: post_decoder(client, info.name(), worker=worker_kind) for k, (info, _) in streams.items()}
    good = unique("good")
    good_outlet, _ = new_outlet(good, f"{good}-src")
    good_id = start_running(client, good, worker=worker_kind)
    good_worker = status(client, good_id)["worker"]
    assert good_worker["kind"] == worker_kind
    push_paced(good_outlet, test_signal(1000, seed=105), TINY_SFREQ * 4, chunk=10)

    shared_with_good = 0
    for kind, decoder_id in ids.items():
        st = wait_status(client, decoder_id, lambda s: s["exit_code"] is not None, 60, f"{kind}: the worker to exit")
        expected = streams[kind][1]
        assert st["state"] == "error" and st["exit_code"] == EXIT_REFUSED, (kind, st)
        assert st["last_error"].startswith(expected), (kind, st["last_error"])
        assert st["connected"] is False and st["worker"]["kind"] == worker_kind, (kind, st)
        assert left_its_worker(server, decoder_id, st), f"{kind}: still placed in its worker {st['worker']}"
        assert released(outlets[kind]), f"{kind}: the refused decoder still reads its stream"
        if worker_kind == "shared" and st["worker"]["pid"] == good_worker["pid"]:
            shared_with_good += 1
            assert alive(good_worker["pid"]), f"{kind}: the shared worker went down with the refused stream"
    if worker_kind == "shared":  # 6 decoders on SHARED_WORKERS (2) workers: refused ones beside the good one
        assert shared_with_good >= 1, (good_worker, [status(client, d)["worker"] for d in ids.values()])
    st = wait_status(client, good_id, lambda s: s["counters"].get("samples_out") == 1000, 30, "the good decoder")
    assert st["counters"]["samples_in"] == 1000 and st["counters"]["samples_lost"] == 0 and st["restarts"] == 0
    assert st["worker"]["pid"] == good_worker["pid"] and st["state"] in ("running", "stalled")

    ready = client.get("/ready").json()
    assert ready["ready"] is True and set(ids.values()) <= set(ready["decoders_in_error"])
    assert good_id not in ready["decoders_in_error"]
    states = {(s.labels["decoder_id"], s.labels["state"]): s.value
              for f in text_string_to_metric_families(client.get("/metrics").text)
              if f.name == "bci_stream_decoder_state" for s in f.samples}
    assert all(states[(d, "error")] == 1.0 for d in ids.values())
    for decoder_id in ids.values():
        assert status(client, decoder_id)["restarts"] == 0  # refused: never restarted
        assert client.delete(f"/decoders/{decoder_id}").status_code == 200
    assert_service_up(client)
    assert client.delete(f"/decoders/{good_id}").status_code == 200


def test_source_comes_back_at_another_rate(client, worker_kind):
    """The stream decodes; its sender dies and an outlet with the same source_id comes back at 1000 Hz.
    Expected: the decoder does not decode it with the old state and filters: ``error`` with a message
    saying what changed (sfreq 1000 vs 500), exit 'refused', no restart; every sample of the first
    sender was decoded (in = out) before that; the service stays up."""
    name = unique("rate-change")
    sid = f"{name}-src"
    outlet, _ = new_outlet(name, sid)
    decoder_id = start_running(client, name, worker=worker_kind)
    push_paced(outlet, test_signal(1000, seed=106), TINY_SFREQ * 4, chunk=10)
    wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == 1000, 30, "the first sender's data")
    del outlet
    fast = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, 1000.0, sid))  # noqa: F841
    st = wait_status(client, decoder_id, lambda s: s["exit_code"] is not None, 60, "the worker to refuse the new rate")
    assert st["state"] == "error" and st["exit_code"] == EXIT_REFUSED and st["restarts"] == 0
    assert "came back with n_chans=8, sfreq=1000" in st["last_error"]
    assert "it was n_chans=8, sfreq=500" in st["last_error"]
    c = st["counters"]
    assert c["samples_in"] == c["samples_out"] == 1000 and c["samples_lost"] == 0
    assert np.isfinite(st["last_output"]).all()
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_channels_in_another_order_with_extras_are_mapped_by_label(client, fault_models):
    """A stream carrying the model's 8 channels in reverse order plus 2 extra channels (10 labelled
    channels): expected to be decoded by label (``stream.channel_map`` picks the model's channels),
    every sample, with exactly the offline pipeline's output on the model's channels."""
    name = unique("order")
    labels = ["EOG1", *TINY_CH_NAMES[::-1], "EMG"]
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", labels, TINY_SFREQ, f"{name}-src"))
    decoder_id = start_running(client, name)
    out = open_output(f"{name}-decoded")
    st = status(client, decoder_id)
    expected_map = [labels.index(ch) for ch in TINY_CH_NAMES]
    assert st["stream"]["channel_map"] == expected_map
    x = test_signal(1500, seed=107, n_chans=len(labels))
    push_paced(outlet, x, TINY_SFREQ * 4, chunk=10)
    y, _ = pull_all(out, 1500, timeout=30)
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == 1500, 30, "all samples")
    assert st["counters"]["samples_in"] == 1500 and len(y) == 1500
    expected = decode_offline(ModelRegistry(fault_models).get("tiny-gru"), x[:, expected_map])
    assert np.abs(y - expected).max() <= 1e-5
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200



def test_two_streams_of_one_name_are_both_named_in_the_status(client, worker_kind):
    """Three amplifiers (or an amplifier and replays) under one name: the decoder takes the first found, and its status
    names the others (``stream.also_matching``; looked for by the API process, never from a worker), so a lab sees it
    may decode the wrong one (before: nothing said it; ``bci-stream record`` already said so; found by an exploratory
    run). The selector by source_id names none."""
    name = unique("twins")
    first, _ = new_outlet(name, f"{name}-a")
    second, _ = new_outlet(name, f"{name}-b")
    third, _ = new_outlet(name, f"{name}-c")
    decoder_id = start_running(client, name, worker=worker_kind)
    st = wait_status(client, decoder_id, lambda s: "also_matching" in (s["stream"] or {}), 30.0,
                     "stream.also_matching")
    others = sorted({"a", "b", "c"} - {st["stream"]["source_id"][-1]})
    assert len(st["stream"]["also_matching"]) == 2, st["stream"]  # every other one, not the first found only
    for other, said in zip(others, sorted(st["stream"]["also_matching"])):
        assert f"source_id '{name}-{other}'" in said, st["stream"]
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
    decoder_id = start_running(client, {"name": name, "source_id": f"{name}-a"}, worker=worker_kind)
    st = wait_status(client, decoder_id, lambda s: "also_matching" in (s["stream"] or {}), 30.0,
                     "stream.also_matching")
    assert st["stream"]["also_matching"] == []
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
    del first, second, third


def test_a_swap_to_a_model_reading_fewer_channels_judges_the_other_matches_again(client, half_model, worker_kind):
    """``stream.also_matching`` judges the other matches by the channels the decoder reads: a 4-channel stream of the
    decoded one's name cannot be decoded by the 8-channel model, and can by a model reading 4 of them, so a hot swap to
    such a model names it (before: the judgement of the model swapped out stayed, ``[]``: a look was made once per
    stream instance)."""
    name = unique("halfswap")
    full, _ = new_outlet(name, f"{name}-full")
    half = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES[:4], TINY_SFREQ, f"{name}-half"))
    # running (not stalled) on the silent stream while the looks are made: they are made for running decoders
    decoder_id = start_running(client, name, worker=worker_kind, stall_timeout_s=600)
    st = wait_status(client, decoder_id, lambda s: "also_matching" in (s["stream"] or {}), 30.0,
                     "stream.also_matching")
    assert st["stream"]["source_id"] == f"{name}-full" and st["stream"]["also_matching"] == [], st["stream"]
    r = client.put(f"/decoders/{decoder_id}/model", json={"model": half_model})
    assert r.status_code == 200, r.text
    st = wait_status(client, decoder_id, lambda s: (s["stream"] or {}).get("also_matching"), 30.0,
                     "stream.also_matching judged for the 4 channels the swapped-in model reads")
    assert len(st["stream"]["also_matching"]) == 1, st["stream"]
    assert f"source_id '{name}-half'" in st["stream"]["also_matching"][0], st["stream"]
    assert st["stream"]["channel_map"] == [0, 1, 2, 3] and st["state"] == "running", st
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
    del full, half


def test_a_selector_matching_an_eeg_and_an_annotations_stream_decodes_the_eeg_one(client, worker_kind):
    """mne-lsl's PlayerLSL gives its annotations stream (irregular, strings) its EEG stream's source_id: a selector
    by source_id, as the README advises for two amplifiers, matched both, and the first found (the annotations stream,
    in 2 of 3 decoders of an exploratory run) ended the decoder in a final refusal ("has an irregular rate"). Now a
    first find that cannot fit the model is passed over for one that may; three decoders, each on the EEG stream. Nor
    is the annotations stream taken for the EEG source "come back with n_chans=3, sfreq=0" (a final refusal) once the
    EEG stream is silent: a sibling under one source_id, other in name and type, is no instance of the source."""
    name = unique("player")
    annotations = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-annotations", "annotations", 3, pylsl.IRREGULAR_RATE,
                                                      "string", f"{name}-src"))
    eeg, _ = new_outlet(name, f"{name}-src")
    ids = [post_decoder(client, {"source_id": f"{name}-src"}, worker=worker_kind) for _ in range(3)]
    for decoder_id in ids:  # running, or stalled already (its EEG stream sends nothing)
        st = wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled", "error"), 60,
                         "running (or stalled) or error")
        assert st["state"] != "error", st["last_error"]  # before: some in error, on the annotations stream
        assert st["stream"]["name"] == name
        st = wait_status(client, decoder_id, lambda s: "also_matching" in (s["stream"] or {}), 30.0,
                         "stream.also_matching")
        assert st["stream"]["also_matching"] == [], st["stream"]  # a stream it cannot decode is no ambiguity
    for decoder_id in ids:  # silent since: stalled, its source looked at (after 0.25 s, 0.75 s, 1.75 s, 3.75 s ...)
        st = wait_status(client, decoder_id, lambda s: s["state"] == "error" or (
            s["state"] == "stalled" and (s["stall"] or {}).get("seconds", 0) >= 4), 60, "four looks at the source")
        assert st["state"] == "stalled", st["last_error"]  # before: error, "came back with n_chans=3, sfreq=0"
        assert st["connected"] is True  # the source looked at: the EEG outlet is up, only silent
        assert client.delete(f"/decoders/{decoder_id}").status_code == 200
    del annotations, eeg


def test_a_stream_of_the_name_with_too_few_channels_is_passed_over(client, worker_kind):
    """Another decoder's decoded stream published under an EEG stream's name (``output_name`` "amp-b" in room A), or
    any stream of that name with fewer channels than the model reads, can never be decoded: it is passed over for the
    EEG stream the name also matches, as one of another rate or format is (before: the first found, in 1-2 of 10
    starts the 2-channel stream, ended the decoder in a final refusal "lacks 8 of the 8 channels")."""
    name = unique("amp-b")
    decoded, _ = new_outlet(name, f"{name}-decoded-src", n_chans=2)  # same name, rate and format; 2 channels
    eeg, _ = new_outlet(name, f"{name}-src")
    ids = [post_decoder(client, name, worker=worker_kind) for _ in range(4)]
    for decoder_id in ids:
        st = wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled", "error"), 60,
                         "running (or stalled) or error")
        assert st["state"] != "error", st["last_error"]
        assert st["stream"]["source_id"] == f"{name}-src" and st["stream"]["n_chans"] == 8, st["stream"]
        assert client.delete(f"/decoders/{decoder_id}").status_code == 200
    del decoded, eeg
