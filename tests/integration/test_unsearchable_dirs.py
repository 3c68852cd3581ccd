"""A models_dir or recordings_dir that cannot be looked in (found by an audit of non-root deployments: a folder on the
way the service user may not search, ``/root/...`` or ``/home`` under systemd's ProtectHome; Python 3.11's ``exists``
and ``is_dir`` raise EACCES there): ``serve`` starts and says so, ``GET /models`` and ``/ready`` answer with the
problem (before: 500), ``bci-stream models`` says it in one line (before: a traceback). Root searches every folder,
so the place that cannot be looked in here is one whose check raises all the same: a name too long (ENAMETOOLONG)."""

from __future__ import annotations

import httpx
from click.testing import CliRunner

from bci_stream.api.server import BackgroundServer
from bci_stream.cli import main
from bci_stream.core.out_folder import out_folder_problem
from bci_stream.core.settings import Settings


def test_folders_that_cannot_be_looked_in_are_said_not_raised(tmp_path, monkeypatch):
    models, recordings = tmp_path / ("m" * 300), tmp_path / ("r" * 300) / "rec"
    cannot = f"models directory {models} cannot be read (File name too long): give the service's user access to it"
    assert out_folder_problem(recordings, "recordings_dir") == (
        f"recordings_dir {recordings}: cannot look in {recordings} (File name too long): give a folder you can write "
        "to")
    settings = Settings(host="127.0.0.1", port=0, models_dir=models, recordings_dir=recordings, status_interval=0.1)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=30.0) as client:
        r = client.get("/models")
        assert r.status_code == 200 and r.json()["models"] == [] and r.json()["problems"] == [cannot], r.text
        ready = client.get("/ready")
        assert ready.status_code in (200, 503) and ready.json()["ready"] is False, ready.text
        r = client.post("/recordings", json={"stream": {"name": "x"}, "out": "a.xdf"})
        assert r.status_code == 422 and "cannot look in" in r.text, r.text
    monkeypatch.setenv("BCI_STREAM_MODELS_DIR", str(models))
    res = CliRunner().invoke(main, ["models"])
    assert res.exit_code == 2 and f"setting models_dir: {cannot}" in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
