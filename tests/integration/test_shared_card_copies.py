"""Two models that are one ONNX file under two cards (a lab copies a model folder and renames it, or gives it a new
version) in one shared worker (found by an exploratory run): the worker kept one session and state table per file
sha256, and with it the first card, so a decoder started on (or hot-swapped to) the copy reported the other model's
name and version (status, /metrics) and read its stream by the other card (a copy whose unit alone was edited read
microvolts as volts; such an edit is now refused: the unit is in the graph's metadata). Now sessions and tables are
by file and card (:meth:`~bci_stream.core.card.ModelCard.key`): each decoder reports, and decodes by, its own card.
A real shared worker process, real LSL, real onnxruntime."""

from __future__ import annotations

import json
import shutil
import threading

from bci_stream.core.messages import SwapModel
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, wait_for
from support.pacing import push_paced
from test_shared_worker import SharedHost, running


def copies(models_dir, root):
    """``tiny-gru`` and two copies of it, card renamed (``tiny-gru-copy``), and renamed with another version
    (``tiny-gru-next@2.0.0``)."""
    shutil.copytree(models_dir / "tiny-gru", root / "tiny-gru")
    for name, change in (("tiny-gru-copy", {}), ("tiny-gru-next", {"version": "2.0.0"})):
        shutil.copytree(models_dir / "tiny-gru", root / name)
        card = json.loads((root / name / "model.json").read_text())
        (root / name / "model.json").write_text(json.dumps({**card, "name": name, **change}))
    return root


def test_copies_of_one_file_under_other_cards_each_report_and_decode_by_their_own_card(models_dir, tmp_path):
    root = copies(models_dir, tmp_path / "models")
    host = SharedHost(root)
    try:
        names = {m: unique(m) for m in ("tiny-gru", "tiny-gru-copy", "tiny-gru-next")}
        outlets = {m: new_outlet(n, f"{n}-src")[0] for m, n in names.items()}
        hosted = {m: host.add(names[m], m, markers={"enabled": False}) for m in names}
        running(list(hosted.values()))
        for m, h in hosted.items():
            assert h.status.model["name"] == m, (m, h.status.model)
        assert hosted["tiny-gru-next"].status.model["version"] == "2.0.0"
        x = test_signal(400, seed=7)
        threads = [threading.Thread(target=push_paced, args=(outlets[m], x, TINY_SFREQ * 2, 10)) for m in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        wait_for(lambda: all(h.status.counters.samples_out == 400 for h in hosted.values()), 30, "every output")
        last = {m: h.status.last_output for m, h in hosted.items()}
        assert last["tiny-gru"] == last["tiny-gru-copy"] == last["tiny-gru-next"]  # one file: the same outputs
        reply = hosted["tiny-gru"].request(SwapModel(model="tiny-gru-copy"))
        assert reply.ok, reply
        wait_for(lambda: hosted["tiny-gru"].status.model["name"] == "tiny-gru-copy", 10,
                 "the swapped decoder's status to name the copy")  # before: still tiny-gru
    finally:
        host.close()
