"""liblsl's own log on stderr: warnings and errors only, unless the user has configured liblsl.

liblsl (as bundled with pylsl 1.18) writes INFO lines to stderr in every process that uses it (``Loaded default
config``, its build): six lines in a demo's output before its first status line, two in each worker. It reads one
configuration file: ``$LSLAPICFG``, else ``./lsl_api.cfg``, ``~/lsl_api/lsl_api.cfg``, ``/etc/lsl_api/lsl_api.cfg``.
When none of those exists, the ``bci-stream`` command points ``LSLAPICFG`` at ``lsl_api_quiet.cfg`` (this folder),
which sets only ``[log] level = -1`` (warnings and errors) and leaves every other setting at liblsl's default; the
processes it starts (workers, players) inherit it. A configuration of the user's own is never replaced: write one
(e.g. ``[log] level = 0``) to see liblsl's INFO lines again.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

ENV = "LSLAPICFG"
QUIET_CFG = Path(__file__).with_name("lsl_api_quiet.cfg")


def user_config(environ: MutableMapping[str, str], cwd: Path | None = None) -> Path | None:
    """The liblsl configuration file the user has (see the module docstring), or None. A place that cannot be looked
    in (a HOME or working directory the user may not search, e.g. root's kept by ``setpriv``/``sudo -E``, or under
    systemd's ``ProtectHome``; a working directory removed) holds none, as liblsl finds none there: before, the
    probe's ``PermissionError`` ended every ``bci-stream`` command with a traceback."""
    if environ.get(ENV):
        return Path(environ[ENV])
    home = environ.get("HOME")
    try:
        here = Path(cwd or Path.cwd())
    except OSError:  # the working directory was removed
        here = None
    candidates = [Path("/etc/lsl_api/lsl_api.cfg")]
    if home:
        candidates.insert(0, Path(home) / "lsl_api" / "lsl_api.cfg")
    if here is not None:
        candidates.insert(0, here / "lsl_api.cfg")
    return next((p for p in candidates if _is_file(p)), None)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # EACCES: a folder on the way the user may not search
        return False


def quiet_liblsl_log(environ: MutableMapping[str, str] | None = None, cwd: Path | None = None) -> bool:
    """Point ``LSLAPICFG`` at the quiet configuration when the user has none; True when it did.

    Call it before the process's first liblsl call (liblsl reads its configuration once).
    """
    env = os.environ if environ is None else environ
    if user_config(env, cwd) is not None or not QUIET_CFG.is_file():
        return False
    env[ENV] = str(QUIET_CFG)
    return True


__all__ = ["ENV", "QUIET_CFG", "quiet_liblsl_log", "user_config"]
