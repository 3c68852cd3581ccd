"""Settings errors a user can act on: :func:`load_settings` names where each bad value came from.

pydantic's own message names the field (``token``), not the environment variable the user set
(``BCI_STREAM_TOKEN``), and prints the value it refused, secrets included. :func:`load_settings` (what the
command line uses) turns it into one line per bad value: its origin (``--port``, ``environment variable
BCI_STREAM_WORKER``, the ``.env`` file, ``config file 'x.toml': key 'port'``), pydantic's rule and the value,
except a secret's (the token's: only its length is said).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bci_stream.core.errors import BciStreamError
from bci_stream.core.settings import Settings, env_var


class SettingsError(BciStreamError):
    """Settings with bad values: one line per value, naming where it came from, the rule and the value."""


def load_settings(**flags: Any) -> Settings:
    """:class:`Settings` with ``flags`` (command-line options by setting name; None: not given) over the other sources.

    Raises
    ------
    SettingsError
        One line per bad value: where it came from (``--port``, ``BCI_STREAM_PORT``, the ``.env`` file, the config
        file's key), the rule and the value; a secret's value (the token) is never shown.
    ConfigFileError
        The config file is missing, unreadable, malformed, or holds an unknown key.
    """
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise SettingsError("\n".join(_error_lines(exc, given))) from None


def _error_lines(exc: ValidationError, flags: dict[str, Any]) -> list[str]:
    rules: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for err in exc.errors(include_url=False):
        name = str(err["loc"][0]) if err["loc"] else ""
        if err["msg"] not in rules.setdefault(name, []):
            rules[name].append(err["msg"])
        values.setdefault(name, err.get("input"))
    lines = []
    for name, msgs in rules.items():
        field = Settings.model_fields.get(name)
        value = values[name]
        if field is not None and field.repr is False:  # a secret (the token): say what is wrong, never the value
            size = f" of {len(value)} characters" if isinstance(value, str) else ""
            shown = f"a value{size} (not shown)"
        else:
            shown = repr(value)
        lines.append(f"{_origin(name, flags)}: {'; '.join(msgs)}; got {shown}")
    return lines


def _origin(name: str, flags: dict[str, Any]) -> str:
    """Where the value of setting ``name`` came from, in the precedence order of :class:`Settings`."""
    if name in flags:
        return f"--{name.replace('_', '-')}"
    if name not in Settings.model_fields:
        return f"setting {name!r}" if name else "settings"
    var = env_var(name)
    found = next((k for k in os.environ if k.upper() == var), None)  # the variables are case-insensitive
    if found is not None:
        return f"environment variable {found}"
    env_file = Path(str(Settings.model_config.get("env_file") or ".env"))
    dotenv = _dotenv(env_file)
    found = next((k for k in dotenv if k.upper() == var), None)
    if found is not None:
        return f"{found} in the env file {str(env_file)!r}"
    config = flags.get("config") or os.environ.get(env_var("config")) or dotenv.get(env_var("config"))
    if config:
        return f"config file {str(config)!r}: key {name!r}"
    return f"setting {name!r}"


def _dotenv(path: Path) -> dict[str, str | None]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # pydantic-settings' own .env reader

    return dict(dotenv_values(path, encoding="utf-8"))


__all__ = ["SettingsError", "load_settings"]
