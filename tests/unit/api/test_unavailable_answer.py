"""A model that could not be loaded now is 503 with Retry-After and ``"retryable": true``; a model at fault stays 422
(:mod:`bci_stream.api.errors`)."""

from __future__ import annotations

import asyncio
import json

from bci_stream.api.errors import RETRY_AFTER_S, bci_stream_error
from bci_stream.core.errors import ModelError, ModelUnavailableError


def test_unavailable_is_503_with_retry_after():
    r = asyncio.run(bci_stream_error(None, ModelUnavailableError("cannot load model 'm' now: EMFILE")))
    assert r.status_code == 503 and r.headers["retry-after"] == str(RETRY_AFTER_S)
    assert json.loads(r.body) == {"detail": "cannot load model 'm' now: EMFILE", "retryable": True}


def test_a_model_at_fault_stays_422_without_retry_after():
    r = asyncio.run(bci_stream_error(None, ModelError("onnxruntime cannot load m.onnx")))
    assert r.status_code == 422 and "retry-after" not in r.headers and "retryable" not in json.loads(r.body)
