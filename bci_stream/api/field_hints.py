"""A 422 for a field the request body's model does not have (pydantic's ``extra_forbidden``: "Extra inputs are not
permitted") names the field it looks like: ``options.input_units`` gets "did you mean 'input_unit'?", as ``serve``
says of a misspelt environment variable. Before, the generic message left a user thinking the unit was taken
(audit s42, amplifiers)."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from pydantic import BaseModel

from bci_stream.core.errors import rule_text


def _model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (``X``, ``X | None``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        found = [m for a in typing.get_args(annotation) if (m := _model(a)) is not None]
        return found[0] if len(found) == 1 else None
    return None


def close_field(request: Request, loc: Sequence[Any]) -> str | None:
    """The field name of the body's model at ``loc`` (``("body", ..., "input_units")``) closest to its last part,
    when one is close; None otherwise (another location, or no model known)."""
    field = getattr(request.scope.get("route"), "body_field", None)
    model = _model(getattr(getattr(field, "field_info", None), "annotation", None) or getattr(field, "type_", None))
    if not loc or loc[0] != "body" or model is None:
        return None
    for key in loc[1:-1]:  # down to the model that holds the unknown field
        field_info = model.model_fields.get(key)
        if field_info is None or (model := _model(field_info.annotation)) is None:
            return None
    names = [f.alias or name for name, f in model.model_fields.items()]
    found = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    return found[0] if found else None


def with_hints(request: Request, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``errors`` with "; did you mean '<field>'?" after the message of each unknown field that looks like one, and
    without pydantic's "Value error, " before the rules this service words itself (it read as part of the rule)."""
    for err in errors:
        if isinstance(err.get("msg"), str):
            err["msg"] = rule_text(err["msg"])
        if err.get("type") == "extra_forbidden" and (name := close_field(request, tuple(err.get("loc", ())))):
            err["msg"] = f"{err.get('msg', '')}: {err['loc'][-1]!r} is no field here; did you mean {name!r}?"
    return errors
