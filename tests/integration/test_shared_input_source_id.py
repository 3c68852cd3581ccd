"""Over a real uvicorn server and real LSL streams: two different input streams that share a source_id (mne-lsl
PlayerLSL's default ``source_id="MNE-LSL"``), each decoded by its own decoder of one model, selected by name. The
selectors cannot match the same stream, so nothing is known at start; once both workers publish, the later one is
reopened under ``.../<its decoder id>``: the two decoded outlets never share a source_id (README)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.settings import Settings
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet, wait_for
from support.pacing import PacedPusher


@pytest.fixture(scope="module")
def client(models_dir: Path) -> Iterator[httpx.Client]:
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=30.0) as c:
        yield c


def test_inputs_sharing_a_source_id_get_decoded_outlets_with_distinct_source_ids(client, models_dir):
    names = [unique("shsidA"), unique("shsidB")]
    shared = f"{unique('shsid')}-MNE-LSL"
    pushers = []
    for k, name in enumerate(names):
        outlet, _ = new_outlet(name, shared)
        pushers.append(PacedPusher(outlet, test_signal(60_000, seed=130 + k), TINY_SFREQ, chunk=10))
    for p in pushers:
        p.start()
    ids = []
    try:
        for name in names:
            r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru"})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        base = f"{shared}/decoded/{ModelRegistry(models_dir).get('tiny-gru').card.sha256[:12]}"

        def distinct() -> dict[str, str] | None:
            sts = {d: client.get(f"/decoders/{d}").json() for d in ids}
            if not all(s["state"] == "running" for s in sts.values()):
                return None
            sids = {d: s["output_stream"]["source_id"] for d, s in sts.items()}
            return sids if len(set(sids.values())) == 2 else None

        sids = wait_for(distinct, 45, "two running decoders with distinct decoded source_ids")
        plain = [d for d, s in sids.items() if s == base]
        apart = [d for d, s in sids.items() if s == f"{base}/{d}"]
        assert len(plain) == 1 and len(apart) == 1, sids
        on_network = wait_for(lambda: (found := pylsl.resolve_bypred(f"type='Decoded' and starts-with(source_id, "
                                                                    f"'{shared}')", 2, 1.0))
                              and len(found) == 2 and found, 30, "both decoded outlets on the network")
        assert {i.source_id() for i in on_network} == set(sids.values())
        assert {i.name() for i in on_network} == {f"{n}-decoded" for n in names}
        for d in ids:  # both decode on, the reopened one included
            out = client.get(f"/decoders/{d}").json()["counters"]["samples_out"]
            wait_status(client, d, lambda s, out=out: s["counters"]["samples_out"] > out + 200, 30, f"{d} to decode")
    finally:
        for p in pushers:
            p.halt.set()
            p.join(10)
        for d in ids:
            client.delete(f"/decoders/{d}")
