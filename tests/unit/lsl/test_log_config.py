"""liblsl's INFO lines are off in bci-stream's commands unless the user configured liblsl (bci_stream/lsl/log_config).

Before, a demo printed six ``INFO| Loaded default config`` / build lines of liblsl before its first status line,
and every worker two more.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bci_stream.lsl.log_config import ENV, QUIET_CFG, quiet_liblsl_log, user_config
from support.common import REPO

INFO = "INFO|"


def test_the_quiet_config_is_used_only_where_the_user_has_none(tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    cwd.mkdir()
    env = {"HOME": str(home)}
    if Path("/etc/lsl_api/lsl_api.cfg").is_file():  # this machine's own configuration wins
        assert not quiet_liblsl_log(env, cwd) and ENV not in env
        return
    assert quiet_liblsl_log(env, cwd) and env[ENV] == str(QUIET_CFG)
    assert "level = -1" in QUIET_CFG.read_text(encoding="utf-8")
    own = {"HOME": str(home), ENV: "/somewhere/mine.cfg"}
    assert not quiet_liblsl_log(own, cwd) and own[ENV] == "/somewhere/mine.cfg"
    (home / "lsl_api").mkdir(parents=True)
    (home / "lsl_api" / "lsl_api.cfg").write_text("[log]\nlevel = 0\n", encoding="utf-8")
    assert user_config({"HOME": str(home)}, cwd) == home / "lsl_api" / "lsl_api.cfg"
    (cwd / "lsl_api.cfg").write_text("[log]\nlevel = 0\n", encoding="utf-8")
    env = {"HOME": str(home)}
    assert not quiet_liblsl_log(env, cwd) and ENV not in env and user_config(env, cwd) == cwd / "lsl_api.cfg"


def _simulate(cwd: Path, extra: dict[str, str]) -> str:
    """``bci-stream simulate`` for half a second (a real outlet: liblsl loads its configuration); its stderr."""
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env.update(HOME=str(cwd), PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p), **extra)
    proc = subprocess.run([sys.executable, "-m", "bci_stream", "simulate", "--duration", "0.5", "--n-chans", "4",
                           "--name", f"logcfg-{os.getpid()}"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stderr


def test_a_command_is_quiet_and_a_users_config_is_kept(tmp_path: Path) -> None:
    if Path("/etc/lsl_api/lsl_api.cfg").is_file():
        return  # the machine's configuration decides; the unit test above covers the rule
    assert INFO not in _simulate(tmp_path, {})
    mine = tmp_path / "mine.cfg"
    mine.write_text("[log]\nlevel = 0\n", encoding="utf-8")
    assert INFO in _simulate(tmp_path, {ENV: str(mine)})  # the user's level 0 (INFO) is obeyed


def test_a_home_or_working_directory_that_cannot_be_looked_in_holds_no_config_and_breaks_no_command(
        tmp_path: Path) -> None:
    """Found by an audit of non-root deployments: a HOME the service user may not search (root's, kept by ``setpriv``
    or ``sudo -E``; systemd's ProtectHome) made the probe for ``~/lsl_api/lsl_api.cfg`` raise PermissionError, and a
    removed working directory FileNotFoundError: every command ended in a traceback. Root searches every folder, so
    the unsearchable place is one whose check raises all the same (a name too long, ENAMETOOLONG)."""
    too_long = str(tmp_path / ("x" * 5000))
    assert user_config({"HOME": too_long}, tmp_path) is None
    gone = tmp_path / "gone"
    gone.mkdir()
    script = (f"import os; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
              "from bci_stream.cli import main; main(['models', '--help'])")
    env = {k: v for k, v in os.environ.items() if k != ENV} | {"HOME": too_long, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "Usage: " in res.stdout, res.stdout + res.stderr
