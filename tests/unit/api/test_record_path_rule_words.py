"""``options.record_path``'s 422 says the rule in words (which characters, folders with ``/``, no spaces) and the
value refused; it said ``String should match pattern '^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$'`` (s21 audit, finding
5). The rule itself is kept: it and the ``.``/``..`` check keep a recording inside recordings_dir."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from bci_stream.api.guards import validation_error
from bci_stream.core.spec import DecoderSpec

LOC = ["body", "options", "record_path"]


def answer(record_path: str) -> tuple[int, list[dict]]:
    """The service's 422 for a ``POST /decoders`` body with this ``record_path`` (its validation-error handler)."""
    body = {"stream": {"name": "x"}, "model": "tiny-gru", "options": {"record_path": record_path}}
    with pytest.raises(ValidationError) as caught:
        DecoderSpec.model_validate(body)
    errors = [{**e, "loc": ["body", *e["loc"]]} for e in caught.value.errors()]
    r = asyncio.run(validation_error(None, RequestValidationError(errors)))
    return r.status_code, json.loads(r.body)["detail"]


def test_spaces_and_accents_are_refused_in_words() -> None:
    code, detail = answer("sub 01/séance 1.xdf")
    assert code == 422 and [e["loc"] for e in detail] == [LOC]
    assert detail[0]["msg"] == (
        "record_path must be a relative path of ASCII letters, digits, '_', '.' and '-', folders "
        "separated by '/' (no spaces, accents or other characters; no '.' or '..' folder); got 'sub 01/séance 1.xdf'")
    assert "pattern" not in detail[0]["msg"]


@pytest.mark.parametrize("path", ["../../../../tmp/evil.xdf", "a/../../evil.xdf", "./a.xdf", "/etc/evil.xdf",
                                  "a\\..\\..\\evil.xdf", "a//b.xdf", "a.xdf/", "a.xdf\n"])
def test_paths_out_of_recordings_dir_stay_refused_on_the_field(path: str) -> None:
    code, detail = answer(path)
    assert code == 422 and [e["loc"] for e in detail] == [LOC]
    msg = detail[0]["msg"]
    assert msg.startswith("record_path must ") and msg.endswith(f"got {path!r}")


@pytest.mark.parametrize("path", ["s01.xdf", "day1/sub-01_ses-1.run.2.xdf", "..a/b..xdf"])
def test_plain_paths_are_taken(path: str) -> None:
    spec = DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "tiny-gru",
                                       "options": {"record_path": path}})
    assert spec.options.record_path == path


@pytest.mark.parametrize("path", ["run4.txt", "s01/run1", "s01/run1.xdfz", "run.xdf.bak"])
def test_a_file_name_not_ending_in_xdf_is_refused(path: str) -> None:
    """An XDF file written as ``run4.txt`` was recorded, then refused by calibrate ("path must end in one of ...")
    that the summary told to run on it (exploratory run, s27); ``bci-stream record --out`` takes the same rule."""
    code, detail = answer(path)
    assert code == 422 and [e["loc"] for e in detail] == [LOC]
    assert detail[0]["msg"] == ("record_path must end in .xdf (an XDF file, which calibrate and replay "
                                f"read by its suffix), got {path!r}")
