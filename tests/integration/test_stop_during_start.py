"""A DELETE that lands while its decoder's POST is still starting it (found by an exploratory run: a client polling
``GET /decoders`` deleted each new id as soon as it was listed; 3-5 of 15 left their model copy on disk, past the
service's end). The stop ran between the start's copy of the model and its worker's spawn, or removed the copy
before the start made it: the start now frees what it made once it finds its decoder stopped and gone. A real
supervisor and worker processes; the stop is made to land at that point by running it from inside the copy."""

from __future__ import annotations

import threading

import pytest

import bci_stream.service.supervisor as supervisor_module
from bci_stream.core.errors import DecoderStoppingError
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.model_pin import pin_dir
from bci_stream.service.supervisor import Supervisor
from support.common import unique


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_a_decoder_stopped_while_its_start_copies_its_model_leaves_no_copy(models_dir, monkeypatch, worker):
    sup = Supervisor(str(models_dir), status_interval=0.1, shared_workers=1)
    real_pin_ref = supervisor_module.pin_ref
    stopped = []

    def pin_ref_with_a_stop_first(decoder_id, *args, **kwargs):
        if not stopped:  # the DELETE lands now: stop() ends before the start copies the model
            thread = threading.Thread(target=lambda: stopped.append(sup.stop(decoder_id)))
            thread.start()
            thread.join(30)
        return real_pin_ref(decoder_id, *args, **kwargs)

    monkeypatch.setattr(supervisor_module, "pin_ref", pin_ref_with_a_stop_first)
    try:
        spec = DecoderSpec.model_validate({"stream": {"name": unique("never")}, "model": "tiny-gru",
                                           "options": {"worker": worker}})
        card = ModelRegistry(models_dir).get("tiny-gru").card
        with pytest.raises(DecoderStoppingError, match="was stopped .* while this request started it: it is gone"):
            sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)  # the POST's 409, not a 201 (audit s45)
        assert stopped  # the stop took it
        handle = stopped[0]
        assert sup.get(handle.id) is None
        assert not pin_dir(handle.id).exists(), "the copy made after the stop is left"  # before: left
        if worker == "dedicated":  # its own process ended too (a shared worker lives on for its other streams)
            assert handle.process is None or not handle.process.is_alive()
    finally:
        sup.shutdown()
