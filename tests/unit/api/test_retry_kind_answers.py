"""Whether a refused command may be retried is data (``Reply.retry``, ``CommandError.retry``), never read from the
refusal's text: ``busy`` is 409 and ``unavailable`` 503 with Retry-After, both saying ``"retryable": true``;
no kind is the command's fault (422 for a swap or a state), whatever its message says. It was read from the text,
so a reworded message turned a 409 into a 422."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import HTTPException

from bci_stream.api.errors import RETRY_AFTER_S, bci_stream_error
from bci_stream.api.routers.control import ModelSwap, StateModel, put_state, swap_model
from bci_stream.core.errors import CommandError, DecoderNotReadyError
from bci_stream.core.messages import NO_STATE_YET, Command, Retry
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.requests import CommandRejectedError
from support.common import export_tiny


def answer(exc: Exception) -> tuple[int, dict, dict]:
    r = asyncio.run(bci_stream_error(None, exc))
    return r.status_code, json.loads(r.body), dict(r.headers)


@pytest.mark.parametrize("error", [CommandRejectedError("reworded: come back in a moment", Retry.BUSY),
                                   DecoderNotReadyError("decoder d1 is starting", Retry.BUSY)])
def test_busy_is_409_retryable_without_retry_after(error):
    code, body, headers = answer(error)
    assert code == 409 and body == {"detail": str(error), "retryable": True} and "retry-after" not in headers


def test_unavailable_is_503_with_retry_after_whatever_it_says():
    code, body, headers = answer(CommandRejectedError("the worker is short of something", Retry.UNAVAILABLE))
    assert code == 503 and body["retryable"] is True and headers["retry-after"] == str(RETRY_AFTER_S)


def test_a_refusal_without_a_kind_says_nothing_of_retrying():
    code, body, headers = answer(CommandRejectedError(NO_STATE_YET))  # even with the old "retry" text
    assert code == 409 and body == {"detail": NO_STATE_YET} and "retry-after" not in headers


class Refusing:
    """A supervisor whose worker refuses every command with ``error``."""

    def __init__(self, error: CommandError) -> None:
        self.error = error

    def request(self, decoder_id: str, command: Command, timeout: float = 10.0) -> None:
        raise self.error


HANDLE = DecoderHandle(id="d1", spec=DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "tiny-gru"}),
                       process=None, cmd_conn=None)
STATE = StateModel(arrays={"h0": [[[0.0]]]}, model={"sha256": "0" * 64})


def test_put_state_follows_the_kind_not_the_text():
    busy = CommandRejectedError("reworded: not running yet", Retry.BUSY)
    with pytest.raises(CommandRejectedError) as info:
        put_state(STATE, HANDLE, Refusing(busy))
    assert info.value is busy  # answered 409, retryable
    with pytest.raises(HTTPException) as refused:
        put_state(STATE, HANDLE, Refusing(CommandRejectedError(NO_STATE_YET)))
    assert refused.value.status_code == 422 and refused.value.detail[0]["loc"] == ["body", "arrays"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("retry-kind-models")
    export_tiny(root, "tiny-gru", "gru")
    return ModelRegistry(root)


@pytest.mark.parametrize("retry", [Retry.BUSY, Retry.UNAVAILABLE])
def test_a_swap_refusal_the_worker_says_can_be_retried_keeps_its_kind(registry, retry):
    refusal = CommandRejectedError("reworded: try again", retry)
    with pytest.raises(CommandRejectedError) as info:
        swap_model(ModelSwap(model="tiny-gru"), HANDLE, Refusing(refusal), registry)
    assert info.value is refusal  # 409 or 503 by its kind (above)


def test_a_swap_refusal_without_a_kind_is_422_whatever_it_says(registry):
    with pytest.raises(HTTPException) as refused:
        swap_model(ModelSwap(model="tiny-gru"), HANDLE, Refusing(CommandRejectedError(NO_STATE_YET)), registry)
    assert refused.value.status_code == 422 and refused.value.detail[0]["loc"] == ["body", "model"]
