"""The ``model`` label of ``/metrics`` is the model's name: from the status, else the spec's model without its
``@version``. After a hot swap the spec says ``B@1`` (a restart runs that version) while the status says ``B``: a
snapshot without a model (a restarted worker before its load) must not start a ``model="B@1"`` series."""

from __future__ import annotations

from dataclasses import replace

from bci_stream.api.routers.metrics import SupervisorCollector
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.handle import DecoderHandle
from support.listing import Listing


def model_labels(handle: DecoderHandle) -> set[str]:
    return {sample.labels["model"] for family in SupervisorCollector(Listing(handle)).collect()
            for sample in family.samples}


def test_a_restart_after_a_swap_keeps_the_models_name_as_its_label():
    handle = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "B@1"}))  # swapped
    handle.status = replace(handle.status, state="running", model={"name": "B", "version": "1"})
    assert model_labels(handle) == {"B"}
    handle.status = replace(handle.status, state="starting", model=None)  # the restarted worker has not loaded yet
    assert model_labels(handle) == {"B"}
