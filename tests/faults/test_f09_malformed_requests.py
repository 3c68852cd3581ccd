"""Fault 9: malformed API requests: raw broken JSON, wrong types, non-finite and huge numbers, bad
unicode, path traversal, wrong content types and methods, oversized and chunked bodies, bad tokens,
then a bounded hypothesis fuzz of every mutating endpoint with arbitrary JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from support.common import TINY_SFREQ, test_signal, unique
from faults.kit import AUTH, CLIENT_ERRORS, assert_service_up, start_running, status, worker_pids
from support.pacing import push_paced
from support.http import wait_status
from support.lsl import new_outlet

OK = {200, 201}
VALID = {"stream": {"name": "x"}, "model": "tiny-gru"}


@pytest.fixture(scope="module")
def victim(client) -> Iterator[tuple[str, object]]:
    """A running decoder that the malformed requests are aimed at (it must come out unharmed)."""
    name = unique("victim")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name)
    yield decoder_id, {"outlet": outlet, "next_t": None}
    client.delete(f"/decoders/{decoder_id}")


def raw(client: httpx.Client, method: str, path: str, body=None, content_type: str | None = "application/json",
        headers: dict | None = None) -> httpx.Response:
    """One request on its own connection (a server error must not take the next request down with it)."""
    h = dict(AUTH)
    if content_type:
        h["content-type"] = content_type
    h.update(headers or {})
    with httpx.Client(base_url=client.base_url, timeout=30.0) as c:
        return c.request(method, path, content=body, headers=h)


def options(**kw) -> bytes:
    return json.dumps({**VALID, "options": kw}).encode()


def cases(victim_id: str, sha256: str) -> list[tuple[str, str, bytes | None, str | None, set[int], str]]:
    """(method, path, body, content type, acceptable statuses, text the answer must contain); ``sha256``: the
    running model's, so that malformed state arrays reach the worker's checks."""
    d = f"/decoders/{victim_id}"
    m = f', "model": {{"sha256": "{sha256}"}}}}'.encode()
    return [
        # broken JSON and wrong JSON types
        ("POST", "/decoders", b"{not json", "application/json", {422}, "json_invalid"),
        ("POST", "/decoders", b'{"stream": {"name": "x"}, "model": "tiny-gru"', "application/json", {422},
         "json_invalid"),
        ("POST", "/decoders", b"", "application/json", {422}, "Field required"),
        ("POST", "/decoders", b"null", "application/json", {422}, ""),
        ("POST", "/decoders", b"[1, 2, 3]", "application/json", {422}, ""),
        ("POST", "/decoders", b'"tiny-gru"', "application/json", {422}, ""),
        ("POST", "/decoders", b'{"stream": "x", "model": "tiny-gru"}', "application/json", {422}, "stream"),
        ("POST", "/decoders", b'{"stream": {"name": 5}, "model": "tiny-gru"}', "application/json", {422}, "name"),
        ("POST", "/decoders", b'{"stream": {"name": "x"}, "model": ["tiny-gru"]}', "application/json", {422}, "model"),
        ("POST", "/decoders", options(provenance="yes please"), "application/json", {422}, "provenance"),
        ("POST", "/decoders", options(gap_policy=None), "application/json", {422}, "gap_policy"),
        ("POST", "/decoders", b'{"stream": {"name": "x"}, "model": "tiny-gru", "stream": {"type": "EEG"}}',
         "application/json", {201, 422}, ""),  # duplicate key: the last one wins (Python's json)
        # non-finite and huge numbers
        ("POST", "/decoders", options(max_buffer_s=float("nan")), "application/json", {422}, "max_buffer_s"),
        ("POST", "/decoders", options(gap_threshold_s=float("nan")), "application/json", {422},
         '"gap_threshold_s"],"msg":"Input should be a finite number'),  # not "less than or equal to 3600"
        ("POST", "/decoders", options(stall_timeout_s=float("inf")), "application/json", {422}, "stall_timeout_s"),
        ("POST", "/decoders", options(outputs_buffer_s=-float("inf")), "application/json", {422},
         "outputs_buffer_s"),
        ("POST", "/decoders", b'{"stream": {"name": NaN}, "model": "tiny-gru"}', "application/json", {422}, "name"),
        ("POST", "/decoders", options(max_buffer_s=1e308), "application/json", {422}, "max_buffer_s"),
        ("POST", "/decoders", b'{"stream": {"name": "x"}, "model": "tiny-gru", "options": {"max_buffer_s": 1e999}}',
         "application/json", {422}, "max_buffer_s"),
        ("POST", "/decoders", b'{"stream": {"name": "x"}, "model": "tiny-gru", "options": {"max_buffer_s": 1'
         + b"0" * 5000 + b"}}", "application/json", {422}, "number too long"),
        ("POST", "/decoders", options(decay_tau_s=10**40), "application/json", {422}, "decay_tau_s"),
        ("POST", "/decoders", b"[" * 100_000 + b"]" * 100_000, "application/json", {413, 422}, ""),
        ("POST", "/decoders", b"[" * 20_000 + b"]" * 20_000, "application/json", {422}, "nested too deep"),
        # unicode: lone surrogates, control characters, non-UTF-8 bytes, overlong names
        ("POST", "/decoders", b'{"stream": {"name": "\\ud800"}, "model": "tiny-gru"}', "application/json", {422},
         "name"),
        ("POST", "/decoders", b'{"stream": {"name": "x"}, "model": "tiny\\udfff"}', "application/json", {422}, "model"),
        ("POST", "/decoders", b'{"stream": {"name": "x"}, "model": "\xff\xfe"}', "application/json", {422},
         "the body is not UTF-8 (byte 0xff at offset 36)"),
        ("POST", "/decoders", b"\xff\xfe\x00{", "application/json", {400, 422}, ""),
        ("POST", "/decoders", json.dumps({**VALID, "stream": {"name": "x" * 257}}).encode(), "application/json",
         {422}, "name"),
        ("POST", "/decoders", json.dumps({**VALID, "model": "m\u00f6del-\u6a21\u578b"}).encode(), "application/json",
         {422}, "model"),
        # path traversal
        ("POST", "/decoders", json.dumps({**VALID, "model": "../../etc/passwd"}).encode(), "application/json",
         {422}, "model"),
        ("POST", "/decoders", json.dumps({**VALID, "model": "tiny-gru/../../x"}).encode(), "application/json",
         {422}, "model"),
        ("POST", "/decoders", options(record_path="../../../../tmp/evil.xdf"), "application/json", {422},
         "record_path"),
        ("POST", "/decoders", options(record_path="/etc/evil.xdf"), "application/json", {422}, "record_path"),
        ("POST", "/decoders", options(record_path="a/../../evil.xdf"), "application/json", {422}, "record_path"),
        ("POST", "/decoders", options(record_path="a\\..\\..\\evil.xdf"), "application/json", {422}, "record_path"),
        ("GET", "/models/..%2F..%2F..%2Fetc%2Fpasswd", None, None, {404}, ""),
        ("GET", "/models/%2e%2e", None, None, {404}, ""),
        ("GET", "/decoders/..%2F..%2Fetc%2Fpasswd", None, None, {404}, ""),
        ("DELETE", "/decoders/%00", None, None, {404}, ""),
        ("GET", "/decoders/%F0%9F%92%A9", None, None, {404}, ""),
        # a key named twice in one object: the last value won (audit s63fault F4)
        ("POST", "/decoders", b'{"stream": {"name": "x"}, "model": "tiny-gru", "model": "tiny-lstm"}',
         "application/json", {422}, "names the key 'model' twice in one object"),
        ("POST", "/decoders", b'{"stream": {"name": "x", "name": "y"}, "model": "tiny-gru"}',
         "application/vnd.api+json; charset=utf-8", {422}, "names the key 'name' twice"),
        ("PUT", f"{d}/model", b'{"model": "tiny-gru", "model": "tiny-gru"}', "application/json", {422},
         "'model' twice"),
        # wrong content types and methods
        ("POST", "/decoders", json.dumps(VALID).encode(), "text/plain", {422}, "got Content-Type 'text/plain'"),
        ("POST", "/decoders", b"stream=x&model=tiny-gru", "application/x-www-form-urlencoded", {422},
         "must be JSON sent with Content-Type: application/json"),
        ("POST", "/decoders", json.dumps(VALID).encode(), None, {201, 422}, ""),
        ("PATCH", "/decoders", b"{}", "application/json", {405}, ""),
        ("PUT", "/health", b"{}", "application/json", {405}, ""),
        # the running decoder's own endpoints
        ("PUT", f"{d}/model", b'{"model": 7}', "application/json", {422}, "model"),
        ("PUT", f"{d}/model", b'{"model": "../tiny-gru"}', "application/json", {422}, "model"),
        ("PUT", f"{d}/model", b"{", "application/json", {422}, ""),
        ("PUT", f"{d}/state", b'{"arrays": {"h0": [[[NaN]]]}' + m, "application/json", {409, 422}, ""),
        ("PUT", f"{d}/state", b'{"arrays": {"h0": [[["a", {"b": 1}]]]}' + m, "application/json", {409, 422}, ""),
        ("PUT", f"{d}/state", b'{"arrays": {"h0": [[1, [2, [3]]]]}' + m, "application/json", {409, 422}, ""),
        ("PUT", f"{d}/state", b'{"arrays": {"../../h0": [1e308, -1e308]}' + m, "application/json", {409, 422}, ""),
        ("PUT", f"{d}/state", b'{"arrays": {}, "model": {"sha256": NaN}}', "application/json", {422}, "sha256"),
        ("PUT", f"{d}/state", b'{"arrays": {"h0": [0]}}', "application/json", {422}, "model.sha256 must be given"),
        ("PUT", f"{d}/state", b'{"arrays": {"h0": [0]}, "seq": 1e999' + m, "application/json", {409, 422}, ""),
        ("POST", f"{d}/reset", b"\x00\x01\x02", "application/octet-stream", {200}, ""),
    ]


def test_handcrafted_malformed_requests(client, victim):
    """Each malformed request gets a 4xx (422 naming the offending field where there is one, 400 for a
    body that cannot be parsed, 404/405 for bad paths and methods), never a 5xx or a hang; nothing it
    carries (a path, a NaN, a surrogate) reaches a file, a worker or an LSL query. The decoder it was
    aimed at keeps running and decoding every sample; no decoder or process is left behind."""
    decoder_id, sender = victim
    pids_before = worker_pids()
    failures = []
    sha256 = client.get(f"/decoders/{decoder_id}").json()["model"]["sha256"]
    for method, path, body, ctype, ok, text in cases(decoder_id, sha256):
        r = raw(client, method, path, body, ctype)
        if r.status_code in (201,):
            client.delete(f"/decoders/{r.json()['id']}")
        if r.status_code not in ok or text not in r.text:
            failures.append(f"{method} {path} {body[:80] if body else body!r} -> {r.status_code} {r.text[:200]}")
    # a valid snapshot whose (free-form) model description holds NaN: restored, and answered in valid JSON
    snap = client.get(f"/decoders/{decoder_id}/state").json()
    body = json.dumps({**snap, "model": {"note": float("nan"), "sha256": snap["model"]["sha256"]}}).encode()
    r = raw(client, "PUT", f"/decoders/{decoder_id}/state", body)
    if r.status_code not in (200, 422):
        failures.append(f"PUT state with NaN in model -> {r.status_code} {r.text[:200]}")
    else:
        json.loads(r.text)  # strict JSON: no NaN literal
    assert not failures, "\n".join(failures)
    check_victim(client, decoder_id, sender, pids_before)


def test_a_key_named_twice_is_judged_after_the_token_and_the_route(client, server):
    """The duplicate-key check comes after the route is found and the token checked (review s63 F4: as a middleware
    it answered 422 to a request without the token, to an unknown path and to a wrong method)."""
    body = b'{"stream": {"name": "x"}, "model": "tiny-gru", "model": "tiny-lstm"}'
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=server.url, timeout=30.0) as anonymous:
        assert anonymous.post("/decoders", content=body, headers=headers).status_code == 401
    assert raw(client, "POST", "/nowhere", body).status_code == 404
    assert raw(client, "POST", "/health", body).status_code == 405
    r = raw(client, "POST", "/decoders", body)
    assert r.status_code == 422 and r.json()["detail"] == [{
        "type": "json_duplicate_key", "loc": ["body", "model"],
        "msg": "the JSON body names the key 'model' twice in one object: which value is meant is undefined (RFC 8259); "
               "send each key once"}], r.text


def test_oversized_and_chunked_bodies_are_refused(client):
    """A body over ``max_request_bytes`` (1 MB) gets 413, whether it announces its length or is sent
    chunked without a Content-Length (then the server stops reading at the limit)."""
    big = b'{"stream": {"name": "' + b"x" * 2_000_000 + b'"}, "model": "tiny-gru"}'
    r = raw(client, "POST", "/decoders", big)
    assert r.status_code == 413 and "max_request_bytes" in r.text, r.text[:200]

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    r = raw(client, "POST", "/decoders", chunks())
    assert r.status_code == 413 and "max_request_bytes" in r.text, (r.status_code, r.text[:200])
    assert_service_up(client)


def test_bad_tokens_are_401(client, server):
    """Missing, wrong, empty, huge or non-ASCII bearer tokens: 401 on every mutating endpoint."""
    body = json.dumps(VALID).encode()
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic eDp5"}, {"Authorization": "Bearer  x"},
                    {"Authorization": "Bearer " + "t" * 8000},
                    {"Authorization": "Bearer fault-suite-tokeN"}, {"Authorization": "Bearer fault-suite-token2"}):
        with httpx.Client(base_url=server.url, timeout=30.0) as anon:
            r = anon.post("/decoders", content=body, headers={"content-type": "application/json", **headers})
            assert r.status_code == 401, (headers, r.status_code, r.text[:200])
    with httpx.Client(base_url=server.url, timeout=30.0) as anon:
        r = anon.post("/decoders", content=body, headers=[("content-type", "application/json"),
                                                           ("authorization", "Bearer \xe9\xe8".encode("latin-1"))])
        assert r.status_code == 401
        assert anon.delete("/decoders/anything").status_code == 401


def json_values() -> st.SearchStrategy:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12),
                                                                                               inner, max_size=4),
                        max_leaves=20)


def bodies() -> st.SearchStrategy:
    """Arbitrary JSON, and near-valid decoder specs with one field replaced by arbitrary JSON."""
    near = st.fixed_dictionaries({
        "stream": st.one_of(json_values(), st.fixed_dictionaries({"name": json_values()})),
        "model": st.one_of(st.sampled_from(["tiny-gru", "tiny-lstm", "nope", "../x", ""]), json_values()),
        "options": st.one_of(json_values(), st.dictionaries(
            st.sampled_from(["resolve_timeout", "nan_policy", "max_buffer_s", "stall_timeout_s", "gap_policy",
                             "gap_threshold_s", "decay_tau_s", "record_path", "outputs_buffer_s", "provenance",
                             "latency_budget_ms", "time_correction", "bogus"]), json_values(), max_size=4)),
    })
    return st.one_of(json_values(), near)


def encode(value) -> bytes:
    """JSON the way a sloppy client writes it: NaN/Infinity literals allowed, unicode escaped or not."""
    return json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


def test_fuzzed_bodies_get_no_server_error(client, victim):
    """A bounded hypothesis run (derandomised: the same examples every run) of arbitrary JSON against
    POST /decoders, PUT /decoders/{id}/model, PUT /decoders/{id}/state and POST /decoders/{id}/reset:
    every answer is 2xx or a 4xx, never a 5xx; decoders it manages to start are deleted; the aimed-at
    decoder keeps running and decoding every sample."""
    decoder_id, sender = victim
    pids_before = worker_pids()
    failures: list[str] = []
    codes: list[int] = []
    targets = [("POST", "/decoders"), ("PUT", f"/decoders/{decoder_id}/model"),
               ("PUT", f"/decoders/{decoder_id}/state"), ("POST", f"/decoders/{decoder_id}/reset")]

    @hsettings(max_examples=60, deadline=None, derandomize=True, database=None,
               suppress_health_check=list(HealthCheck))
    @given(target=st.sampled_from(targets), value=bodies())
    def check(target, value):
        method, path = target
        r = raw(client, method, path, encode(value))
        codes.append(r.status_code)
        if r.status_code == 201:
            client.delete(f"/decoders/{r.json()['id']}")
        if r.status_code not in OK | CLIENT_ERRORS:
            failures.append(f"{method} {path} {encode(value)[:120]!r} -> {r.status_code} {r.text[:200]}")

    check()
    assert not failures, "\n".join(failures[:20])
    assert any(c == 422 for c in codes) and any(c in OK for c in codes), sorted(set(codes))
    check_victim(client, decoder_id, sender, pids_before)


def check_victim(client: httpx.Client, decoder_id: str, sender: dict, pids_before: set[int]) -> None:
    """The decoder the requests were aimed at still runs, decodes every sample; no process leaked.
    (The sender resumes its timestamps where it left off: its pause is not a gap in the data.)"""
    before = status(client, decoder_id)["counters"]["samples_out"]
    ts = push_paced(sender["outlet"], test_signal(500, seed=109), TINY_SFREQ * 4, chunk=10, t_start=sender["next_t"])
    sender["next_t"] = ts[-1] + 1 / (TINY_SFREQ * 4)
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == before + 500, 30,
                     "the victim to decode")
    assert st["state"] == "running" and st["restarts"] == 0
    assert st["counters"]["samples_in"] == st["counters"]["samples_out"] and st["counters"]["samples_lost"] == 0
    assert np.isfinite(st["last_output"]).all()
    assert [d["id"] for d in client.get("/decoders").json()] == [decoder_id]
    assert worker_pids() <= pids_before
    assert_service_up(client)


def test_a_compressed_body_is_said_to_be_one(client):
    """Audit s68api F7: a gzip-encoded JSON body was answered "the body is not UTF-8 (byte 0x8b at offset 1)"."""
    import gzip

    body = gzip.compress(json.dumps(VALID).encode())
    r = client.post("/decoders", content=body, headers={"content-type": "application/json", "content-encoding": "gzip"})
    assert r.status_code == 422 and "sent with Content-Encoding 'gzip', which this service does not decode" in r.text
