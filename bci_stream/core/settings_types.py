"""What a setting takes, for the config file's checks and their messages
(:func:`~bci_stream.core.settings.read_config_file`).

TOML types its values, and the config file is read as strictly as a ``[[decoders]]`` table in it or a trainer's
config is: a value of another type is refused, not coerced by pydantic (``port = "8000"``, ``open_api = "yes"`` or
``1`` were taken while ``resolve_timeout = "5"`` in a decoder's options was refused: audit s66cli F12).
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo


def kind(field: FieldInfo) -> str:
    """What a setting takes, for a message: "an integer", "a number", "one of 'a', 'b'", "a string"."""
    annotation = field.annotation
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(annotation))
    types = set(typing.get_args(annotation)) or {annotation}
    return ("a boolean (true or false)" if bool in types else "an integer" if int in types
            else "a number" if float in types else "a string" if str in types or Path in types
            else f"of type {annotation}")


def toml_type_problem(field: FieldInfo, value: Any) -> str | None:
    """What ``value``, as TOML typed it, must be instead for ``field`` (:func:`kind`), or None when it fits (or the
    setting is structured, such as ``decoders``: pydantic checks it strictly)."""
    annotation = field.annotation
    types = set(typing.get_args(annotation)) - {type(None)} or {annotation}
    if typing.get_origin(annotation) is typing.Literal or str in types or Path in types:
        fits = isinstance(value, str)
    elif bool in types:
        fits = isinstance(value, bool)
    elif int in types:
        fits = isinstance(value, int) and not isinstance(value, bool)
    elif float in types:
        fits = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        return None
    return None if fits else kind(field)


def toml_value(value: Any) -> str:
    """``value`` as a message shows it: ``the boolean true``, ``the string '8000'``, ``the number 3.0``."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return f"the string {value!r}" if isinstance(value, str) else f"the {type(value).__name__} {value!r}"


def is_path_field(field: FieldInfo) -> bool:
    annotation = field.annotation
    return annotation is Path or Path in typing.get_args(annotation)


__all__ = ["is_path_field", "kind", "toml_type_problem", "toml_value"]
