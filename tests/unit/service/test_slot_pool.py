"""SlotPool: streams of one model share one session and one table; a swap moves a stream to its new model's
table; a stream's failing input fails that stream alone. Real onnxruntime, real exported models."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderOptions
from bci_stream.core.status import Counters
from bci_stream.engine.offline import decode_offline
from bci_stream.service.decoding import StreamDecoder
from bci_stream.service.slot_pool import SlotPool
from support.common import TINY_SFREQ, test_signal


def decoder(pool: SlotPool, entry) -> StreamDecoder:
    return StreamDecoder(pool.load(entry), None, TINY_SFREQ, DecoderOptions(), Counters(), lambda *a, **k: None, pool)


def test_streams_share_a_table_per_model_and_equal_offline(models_dir):
    reg = ModelRegistry(models_dir)
    gru, lstm = reg.get("tiny-gru"), reg.get("tiny-lstm")
    pool = SlotPool(capacity=2)
    decs = [decoder(pool, gru), decoder(pool, gru), decoder(pool, gru), decoder(pool, lstm)]
    assert decs[0].model is decs[1].model is decs[2].model  # one session for the model
    assert {k: v["slots"] for k, v in pool.describe().items()} == {gru.card.sha256[:12]: 3, lstm.card.sha256[:12]: 1}
    xs = [test_signal(300, seed=i) for i in range(4)]
    ys: list[list] = [[] for _ in decs]
    bounds = [0, 1, 11, 40, 41, 300]
    for lo, hi in zip(bounds[:-1], bounds[1:]):  # chunks of 1, 10, 29, 1, 259 samples, every stream at once
        results = pool.step([(d, x[lo:hi]) for d, x in zip(decs, xs)])
        for acc, (y, t_dec) in zip(ys, results):
            acc.append(y)
    for acc, x, entry in zip(ys, xs, [gru, gru, gru, lstm]):
        np.testing.assert_allclose(np.concatenate(acc), decode_offline(entry, x), atol=1e-5)


def test_a_bad_input_fails_its_stream_only_and_release_frees_the_slot(models_dir):
    reg = ModelRegistry(models_dir)
    gru = reg.get("tiny-gru")
    pool = SlotPool()
    good, bad = decoder(pool, gru), decoder(pool, gru)
    x = test_signal(50, seed=3)
    results = pool.step([(good, x), (bad, np.zeros((50, 5), dtype=np.float32))])
    np.testing.assert_allclose(results[0][0], decode_offline(gru, x), atol=1e-5)
    assert isinstance(results[1], ValueError) and "n_chans=8" in str(results[1])
    pool.release(bad)
    assert pool.describe()[gru.card.sha256[:12]]["slots"] == 1
    pool.release(good)
    assert pool.describe() == {}


def test_swap_moves_the_stream_to_the_new_models_table(models_dir):
    reg = ModelRegistry(models_dir)
    gru, lstm = reg.get("tiny-gru"), reg.get("tiny-lstm")
    pool = SlotPool()
    a, b = decoder(pool, gru), decoder(pool, gru)
    x = test_signal(100, seed=9)
    pool.step([(a, x[:50]), (b, x[:50])])
    a.swap(pool.load(lstm), None)
    assert a.model.card.name == "tiny-lstm" and b.model.card.name == "tiny-gru"
    assert {v["model"]: v["slots"] for v in pool.describe().values()} == {gru.card.ref: 1, lstm.card.ref: 1}
    (y_a, _), (y_b, _) = pool.step([(a, x[50:]), (b, x[50:])])
    np.testing.assert_allclose(y_b, decode_offline(gru, x)[50:], atol=1e-5)
    assert y_a.shape == (50, 3) and np.isfinite(y_a).all()
    with pytest.raises(KeyError):
        pool.tables[gru.card.sha256].state(5)


def test_the_last_stream_of_a_model_to_leave_frees_its_session(models_dir):
    """A shared worker loads one session per model (file and card): once no stream uses it, it goes. Before, every
    model a worker had run stayed loaded for its life (a decoder swapped to each new calibration grew the worker by
    one session per version: leak audit s48, ~0.85 MB a swap for a small model)."""
    reg = ModelRegistry(models_dir)
    gru, lstm = reg.get("tiny-gru"), reg.get("tiny-lstm")
    pool = SlotPool()
    a, b = decoder(pool, gru), decoder(pool, gru)
    loaded = a.model
    pool.release(a)
    assert pool._models == {gru.card.key(): loaded}  # b still runs it
    c = decoder(pool, lstm)
    pool.release(b)
    assert set(pool._models) == {lstm.card.key()} and set(pool.tables) == {lstm.card.key()}
    pool.release(c)
    assert pool._models == {} and pool.tables == {}
    again = decoder(pool, gru)  # loaded afresh, decodes as before
    assert again.model is not loaded
    x = test_signal(100, seed=9)
    np.testing.assert_allclose(pool.step([(again, x)])[0][0], decode_offline(gru, x), atol=1e-5)


def test_a_model_loaded_for_a_start_survives_the_last_slot_of_its_key_leaving_meanwhile(models_dir):
    """A start or swap loads its model, then takes its slot: a stream of the same model that leaves in between
    (its last slot) drops the cached session, and the slot taken afterwards puts the loaded model back."""
    gru = ModelRegistry(models_dir).get("tiny-gru")
    pool = SlotPool()
    leaving = decoder(pool, gru)
    model = pool.load(gru)  # a start under way: its model loaded (the cached one), its slot not taken yet
    pool.release(leaving)
    assert pool._models == {}
    got, state = pool.acquire(model)
    assert got is model and pool._models == {gru.card.key(): model}


def test_a_graph_that_cannot_batch_is_said_once_and_its_streams_decoded_alone(tmp_path, monkeypatch, caplog):
    """A step graph whose state is batch first (made before upgrade-model probed 2 streams in one call and loading
    checked a state's axes: both turned off here to make and load one): two streams of it in a shared worker. Each still gets its own decoding, as alone;
    the worker says once (WARNING) that the graph cannot batch, and stops trying (audit s67eng F3: a failing
    onnxruntime call every wake-up, and no word)."""
    import logging

    import bci_stream.engine.step_model as step_model
    import bci_stream.train.export.step_graph as step_graph
    from bci_stream.train.export.upgrade import upgrade_model_dir
    from support.batch_first import batch_first_folder

    monkeypatch.setattr(step_graph, "batch_problem", lambda *a: None)
    monkeypatch.setattr(step_model, "axes_problem", lambda *a: None)
    upgrade_model_dir(batch_first_folder(tmp_path))
    entry = ModelRegistry(tmp_path).get("batch-first")
    pool = SlotPool()
    decs = [StreamDecoder(pool.load(entry), None, entry.card.sfreq, DecoderOptions(), Counters(),
                          lambda *a, **k: None, pool) for _ in range(2)]
    xs = [test_signal(200, seed=i)[:, :4] for i in range(2)]
    ys: list[list] = [[], []]
    with caplog.at_level(logging.WARNING, logger="bci_stream.worker"):
        for lo, hi in ((0, 7), (7, 100), (100, 200)):
            for acc, result in zip(ys, pool.step([(d, x[lo:hi]) for d, x in zip(decs, xs)])):
                assert not isinstance(result, Exception), result
                acc.append(result[0])
    for acc, x in zip(ys, xs):
        np.testing.assert_allclose(np.concatenate(acc), decode_offline(entry, x), atol=1e-5)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith("model batch-first@0.9: its graph fails decoding 2 streams in one "
                                                 "call ("), said
    assert pool.alone == {entry.card.key()}
    for d in decs:
        pool.release(d)
    assert pool.alone == set()
