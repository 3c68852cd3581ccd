"""Start, inspect and stop recordings with no model (``bci-stream record`` through the control plane): a stream and
its marker stream into an XDF file under the service's recordings_dir (:mod:`bci_stream.service.recordings`)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field, field_validator

from bci_stream.api.deps import Authorised, AuthorisedBody, RecordingsDep, SupervisorDep
from bci_stream.api.error_docs import errors
from bci_stream.api.record_claims import claim_refusal
from bci_stream.api.schemas import RecordingStatus
from bci_stream.core.spec import RECORD_PATH, RECORD_PATH_RULE, STRICT, StreamSelector, check_record_path
from bci_stream.service.recordings import Recording

router = APIRouter(prefix="/recordings", tags=["recordings"])


class RecordingMarkers(BaseModel):
    """The marker stream recorded beside the EEG stream, as a decoder's ``options.markers`` names it."""

    model_config = STRICT

    stream: StreamSelector | None = Field(
        default=None, description="The marker stream (every field given must match); default: '<input name>-markers' "
        "or '<input name>-annotations' (mne-lsl's player) on the input's host, as a decoder follows it.")


class RecordingOptions(BaseModel):
    """How the streams are found."""

    model_config = STRICT

    markers: RecordingMarkers = Field(default_factory=RecordingMarkers, description="The marker stream to record.")
    resolve_timeout: float = Field(
        default=10.0, gt=0, le=3600, description="Seconds to look for the EEG stream (bci-stream record --timeout); "
        "not found by then: state 'error', its message listing the streams that are visible.")


class RecordingSpec(BaseModel):
    """A recording: the EEG stream (a decoder's ``stream`` selector), the file, the unit of a stream that declares
    none, how long; ``options.markers.stream`` the marker stream."""

    model_config = STRICT

    stream: StreamSelector
    out: str = Field(
        min_length=1, max_length=255, json_schema_extra={"pattern": RECORD_PATH.pattern},
        description="The XDF file to create, relative to the service's recordings_dir, as a decoder's record_path "
        f"(must not exist yet: recordings are never overwritten): {RECORD_PATH_RULE}.")
    input_unit: str = Field(
        default="uV", min_length=1, max_length=32,
        description="The unit written for a stream whose desc declares no channel unit (V, mV, uV, µV, nV, or a "
        "number and one for raw counts: '0.02235 uV'); a declared unit is always kept.")
    duration_s: float | None = Field(default=None, gt=0, le=86400,
                                     description="Stop after this many seconds; default: at DELETE.")
    options: RecordingOptions = Field(default_factory=RecordingOptions)

    @field_validator("out")
    @classmethod
    def _out_chars(cls, value: str) -> str:
        return check_record_path(value, "out")

    @field_validator("input_unit")
    @classmethod
    def _voltage_unit(cls, value: str) -> str:
        from bci_stream.core.units import unit_problem

        if (why := unit_problem(value)) is not None:
            raise ValueError(f"input_unit {why}; got {value!r}")
        return value


def _status(recording: Recording) -> RecordingStatus:
    return RecordingStatus(**recording.view())


def _not_found(recording_id: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"recording {recording_id!r} not found")


def _refused(field: str, why: str) -> HTTPException:
    return HTTPException(status_code=422, detail=[{"loc": ["body", field], "msg": why, "type": "value_error"}])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RecordingStatus, dependencies=AuthorisedBody,
             responses=errors(401, 413, 429, 503))
def create_recording(spec: RecordingSpec, recordings: RecordingsDep, supervisor: SupervisorDep,
                     response: Response) -> RecordingStatus:
    """Record a stream and its marker stream to ``out`` with no model (``bci-stream record``): starts at once, state
    ``searching`` until the stream is found and its inlet open, then ``recording``. An ``out`` that exists (or that
    a running recording or a live decoder's ``record_path`` is to write) is 422 naming ``body.out``."""
    if (why := recordings.out_refusal(spec.out) or claim_refusal("out", spec.out, supervisor, recordings)) is not None:
        raise _refused("out", why)
    try:
        recording = recordings.start(spec.out, spec.stream, spec.options.markers.stream, spec.input_unit,
                                     spec.duration_s, spec.options.resolve_timeout)
    except ValueError as exc:  # another request for the same file came at the same time
        raise _refused("out", str(exc)) from None
    except RuntimeError as exc:  # shutting down
        raise HTTPException(status_code=503, detail=str(exc)) from None
    response.headers["Location"] = f"/recordings/{recording.id}"
    return _status(recording)


@router.get("", response_model=list[RecordingStatus], dependencies=[Authorised], responses=errors(401))
def list_recordings(recordings: RecordingsDep) -> list[RecordingStatus]:
    return [_status(r) for r in recordings.list()]


@router.get("/{recording_id}", response_model=RecordingStatus, dependencies=[Authorised],
            responses=errors(401, 404))
def get_recording(recording_id: str, recordings: RecordingsDep) -> RecordingStatus:
    """State, samples, markers, lost samples, the file; ``error`` and ``summary`` once it ended."""
    recording = recordings.get(recording_id)
    if recording is None:
        raise _not_found(recording_id)
    return _status(recording)


@router.delete("/{recording_id}", response_model=RecordingStatus, dependencies=[Authorised],
               responses=errors(401, 404))
def delete_recording(recording_id: str, recordings: RecordingsDep) -> RecordingStatus:
    """Stop the recording (the samples already received are written), finish its file and return its final status,
    ``summary`` the lines ``bci-stream record`` prints; it leaves the list. A recording that ended by itself
    (``duration_s``, an error) stays listed until then."""
    recording = recordings.stop(recording_id)
    if recording is None:
        raise _not_found(recording_id)
    return _status(recording)

