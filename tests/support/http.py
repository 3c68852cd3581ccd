"""Waiting on a decoder through the HTTP API."""

from __future__ import annotations

import time

import httpx


def wait_status(client: httpx.Client, decoder_id: str, predicate, timeout: float, what: str,
                headers: dict | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = client.get(f"/decoders/{decoder_id}", headers=headers).json()
        if predicate(st):
            return st
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last status {st}")
