"""Over a real uvicorn server and real LSL streams: two decoders of one input stream (a 3-class and a 2-class model)
publish decoded streams a consumer can tell apart by name when each is given ``options.output_name``; without it
(both ``<input>-decoded``), the later decoder's status and the service log say so, naming the other decoder and the
two ways out; a bad ``output_name`` is refused with 422 naming the field and the rule."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pylsl
import pytest
from mne_lsl.stream import StreamLSL

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet, pull_all
from support.pacing import PacedPusher
from support.tiny_variants import export_variant

TOKEN = "outname-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TWO_CLASS = "outname-fists-feet"
TWO_LABELS = ["fists", "feet"]
THREE_LABELS = ["rest", "left", "right"]  # tiny-gru's


@pytest.fixture(scope="module")
def server(models_dir: Path) -> Iterator[BackgroundServer]:
    export_variant(models_dir, TWO_CLASS, labels=TWO_LABELS)
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1, token=TOKEN)
    with BackgroundServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0, headers=AUTH) as c:
        yield c


@pytest.fixture()
def source() -> Iterator[str]:
    """A paced 8-channel EEG stream (name ``outname-...``) for the test's decoders."""
    name = unique("outname")
    outlet, _ = new_outlet(name, f"{name}-src")
    pusher = PacedPusher(outlet, test_signal(60_000, seed=131), TINY_SFREQ, chunk=10)
    pusher.start()
    yield name
    pusher.halt.set()
    pusher.join(10)


def start(client: httpx.Client, name: str, model: str, **options) -> str:
    r = client.post("/decoders", json={"stream": {"name": name}, "model": model, "options": options})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    wait_status(client, decoder_id, lambda s: s["state"] == "running", 90, f"decoder {decoder_id} to run")
    return decoder_id


def visible_by_name(wait_s: float = 3.0) -> dict[str, list[pylsl.StreamInfo]]:
    """Every stream visible within ``wait_s`` seconds, by name: one wait serves every name the test checks (there
    must be exactly one stream of a name, or none)."""
    found: dict[str, list[pylsl.StreamInfo]] = {}
    for info in pylsl.resolve_streams(wait_s):
        found.setdefault(info.name(), []).append(info)
    return found


def labels_of(info: pylsl.StreamInfo) -> list[str]:
    inlet = pylsl.StreamInlet(info, max_buflen=60, processing_flags=0)
    full = inlet.info(timeout=10.0)
    ch, labels = full.desc().child("channels").child("channel"), []
    while not ch.empty():
        labels.append(ch.child_value("label"))
        ch = ch.next_sibling()
    return labels


def test_output_names_make_two_decoders_of_one_input_resolvable_by_name(client, source):
    """A 3-class and a 2-class decoder of one input, each with its ``output_name``: each name resolves to exactly one
    stream, the decoder's own (its channel count and labels, its source_id; mne-lsl's ``StreamLSL(name=...)`` too),
    which carries decoded data; each provenance stream is ``<output_name>-provenance``; nothing is published as
    ``<input>-decoded`` and no status has a note."""
    lr, ff = f"{source}-lr", f"{source}-ff"
    first = start(client, source, "tiny-gru", output_name=lr)
    second = start(client, source, TWO_CLASS, output_name=ff)
    st = {d: client.get(f"/decoders/{d}").json() for d in (first, second)}
    assert st[first]["output_stream"]["name"] == lr and st[second]["output_stream"]["name"] == ff
    assert st[first]["output_stream"]["provenance"] == f"{lr}-provenance"
    assert st[second]["output_stream"]["provenance"] == f"{ff}-provenance"
    visible = visible_by_name()
    for name, decoder_id, labels in ((lr, first, THREE_LABELS), (ff, second, TWO_LABELS)):
        found = visible.get(name, [])
        assert len(found) == 1, [i.source_id() for i in found]
        info = found[0]
        assert info.type() == "Decoded" and info.channel_count() == len(labels)
        assert info.source_id() == st[decoder_id]["output_stream"]["source_id"]
        assert labels_of(info) == labels
        inlet = pylsl.StreamInlet(info, max_buflen=60, processing_flags=0)
        inlet.open_stream(timeout=10.0)
        y, _ = pull_all(inlet, 50, timeout=30)
        assert y.shape[0] >= 50 and y.shape[1] == len(labels)
        prov = visible.get(f"{name}-provenance", [])
        assert len(prov) == 1 and prov[0].source_id() == f"{info.source_id()}/provenance"
    assert visible.get(f"{source}-decoded", []) == []
    for name, labels in ((lr, THREE_LABELS), (ff, TWO_LABELS)):  # mne-lsl, by name: the stream of that name
        sl = StreamLSL(bufsize=5, name=name).connect(timeout=10)
        try:
            assert sl.ch_names == labels
        finally:
            sl.disconnect()
    for d in (first, second):
        out = client.get(f"/decoders/{d}").json()["output_stream"]
        assert "note" not in out and "name_shared_with" not in out
        assert client.delete(f"/decoders/{d}").status_code == 200


def test_a_shared_decoded_name_is_noted_in_the_later_decoder(client, source, caplog):
    """Two decoders of one input without ``output_name`` both publish ``<input>-decoded``: the later one's status
    (``output_stream.name_shared_with``, ``output_stream.note``) and the log name the first decoder and say to set
    ``output_name`` or resolve by ``output_stream.source_id``; the first decoder's status has no note. Once the first
    stops, the note is gone."""
    caplog.set_level(logging.WARNING, logger="bci_stream.supervisor")
    first = start(client, source, "tiny-gru")
    second = start(client, source, TWO_CLASS)
    st2 = wait_status(client, second, lambda s: "note" in (s["output_stream"] or {}), 30, "the note")
    out = st2["output_stream"]
    assert out["name"] == f"{source}-decoded"
    assert out["name_shared_with"] == [first]
    assert first in out["note"] and "options.output_name" in out["note"]
    assert "output_stream.source_id" in out["note"] and out["source_id"] in out["note"]
    assert "note" not in client.get(f"/decoders/{first}").json()["output_stream"]
    logged = [r.getMessage() for r in caplog.records if r.name == "bci_stream.supervisor" and second in r.getMessage()]
    assert any(first in m and "output_name" in m for m in logged), logged
    assert client.delete(f"/decoders/{first}").status_code == 200
    wait_status(client, second, lambda s: "note" not in (s["output_stream"] or {}), 30, "the note to go")
    assert client.delete(f"/decoders/{second}").status_code == 200


@pytest.mark.parametrize(("value", "rule"), [
    ("", "at least 1 character"),
    ("outname\x01x", "should match pattern"),
    (" outname-x", "white space"),
    ("outname-" + "x" * 200, "at most 200 characters"),
    ("SAME", "must differ from stream.name"),
])
def test_bad_output_name_is_refused_naming_the_field(client, value, rule):
    """An empty, non-printable, padded or too long ``output_name``, or the input's own name: 422, the error naming
    ``output_name``, the rule (not an unknown option: the field exists) and, for a rule of ours, the value."""
    name = unique("outname-bad")
    value = name if value == "SAME" else value
    r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                       "options": {"output_name": value}})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert all(d["type"] != "extra_forbidden" for d in detail), detail
    assert "output_name" in json.dumps(detail) and rule in json.dumps(detail), detail
    assert client.get("/decoders").json() == [] or all(
        d["request"]["stream"]["name"] != name for d in client.get("/decoders").json())
