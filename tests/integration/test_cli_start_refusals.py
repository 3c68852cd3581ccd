"""What a new user sees when `serve` or `demo` cannot start: a busy port (a real socket bound on 127.0.0.1 first) or
a Ray address nobody answers (a real closed port) gives one line naming the way out, and exit 2, from the real CLI in a
subprocess; `make demo PORT=...` passes the port on."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.common import REPO

BCI_STREAM = str(Path(sys.executable).parent / "bci-stream")


@pytest.fixture()
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that a listening socket holds for the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _free_port() -> int:
    """A port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("BCI_STREAM_", "RAY_ADDRESS"))}, **(env or {})}
    return subprocess.run([BCI_STREAM, *args], capture_output=True, text=True, timeout=120, env=env, cwd=REPO)


def test_demo_on_a_busy_port_says_how_to_pick_another_and_exits_2(busy_port: int) -> None:
    proc = _run("demo", "--port", str(busy_port), "--duration", "3")
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 2, out
    assert out.splitlines() == [f"error: port {busy_port} on 127.0.0.1 is in use (another server is listening there): "
                                "run `bci-stream demo --port 0` (any free port), or `--port 9000`, or "
                                "`make demo PORT=9000`"]


def test_serve_on_a_busy_port_is_one_error_line_exit_2(busy_port: int) -> None:
    proc = _run("serve", "--port", str(busy_port))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [f"Error: port {busy_port} on 127.0.0.1 is in use (another server is listening "
                                        "there): pass --port (0: any free port) or set BCI_STREAM_PORT"]


@pytest.mark.parametrize("port", ["0", "18050"])
def test_serve_and_demo_on_a_host_they_cannot_listen_on_name_the_host_not_the_port(port: str) -> None:
    """An address of no interface here (TEST-NET-2: never assigned to a host), or a name that does not resolve: the
    advice is about --host, whatever the port (before: port 0 gave a traceback, another port the --port advice)."""
    proc = _run("serve", "--host", "198.51.100.7", "--port", port)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == ["Error: cannot listen on host '198.51.100.7' (198.51.100.7): Cannot assign "
                                        "requested address: pass --host (127.0.0.1: this host only; 0.0.0.0: every "
                                        "interface) or set BCI_STREAM_HOST"]
    proc = _run("serve", "--host", "no-such-host.invalid", "--port", port)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("Error: cannot resolve host 'no-such-host.invalid': ") and "pass --host" in line
    proc = _run("demo", "--host", "198.51.100.7", "--port", port, "--duration", "3")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (proc.stdout + proc.stderr).strip().splitlines() == [
        "error: cannot listen on host '198.51.100.7' (198.51.100.7): Cannot assign requested address: run "
        "`bci-stream demo --host 127.0.0.1`"]


def test_serve_and_demo_with_no_token_on_a_network_address_refuse_unless_open_api_is_set() -> None:
    """Audit s46 (security S4): with no token, a bind address reachable from the network only warned, and anyone who
    reached the port could start, stop and swap decoders. Now one error line says the three ways out, exit 2, before
    anything listens; ``open_api`` (here its environment variable) serves it open on purpose; a loopback bind needs
    no token."""
    port = str(_free_port())
    want = ("no API token is set (setting token, env BCI_STREAM_TOKEN) and host '0.0.0.0' is reachable from the "
            "network: whoever reaches the port could start, stop and swap decoders and record; set a token (and put a "
            "TLS reverse proxy in front: deploy/README.md), bind to 127.0.0.1, or set open_api (env "
            "BCI_STREAM_OPEN_API=true) to serve it open on purpose")
    proc = _run("serve", "--host", "0.0.0.0", "--port", port)
    assert proc.returncode == 2 and proc.stderr.splitlines() == [f"Error: {want}"], proc.stdout + proc.stderr
    proc = _run("demo", "--host", "0.0.0.0", "--port", port, "--duration", "3")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: {want}"] and not proc.stdout, proc.stdout  # audit s66cli F6
    proc = _run("demo", "--host", "0.0.0.0", "--port", "0", "--duration", "1", env={"BCI_STREAM_OPEN_API": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the cluster extra (ray)")
def test_serve_with_an_unreachable_ray_address_is_one_error_line_exit_2() -> None:
    address = f"127.0.0.1:{_free_port()}"
    proc = _run("serve", "--port", "0", "--backend", "ray", "--ray-address", address)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: backend 'ray': nothing answers at ray_address={address!r}")
    assert "Traceback" not in proc.stdout + proc.stderr


def test_demo_help_names_the_port_variable() -> None:
    assert "BCI_STREAM_PORT" in _run("demo", "--help").stdout


def test_make_demo_passes_port_on() -> None:
    dry = subprocess.run(["make", "-n", "demo", "PORT=9123"], capture_output=True, text=True, cwd=REPO, timeout=30)
    assert "bci-stream demo --duration 30 --port 9123" in dry.stdout, dry.stdout + dry.stderr
    dry = subprocess.run(["make", "-n", "demo"], capture_output=True, text=True, cwd=REPO, timeout=30)
    assert "--port" not in dry.stdout  # unset: BCI_STREAM_PORT or 8000, as before


def test_an_error_of_demo_inspect_or_models_is_on_stderr_with_exit_2(tmp_path) -> None:
    """Audit s66cli F6: `demo` and `inspect` printed their errors on stdout (`demo > demo.log` hid them from the
    terminal), and `models` exited 1 for a registry folder that does not exist where every other refusal exits 2."""
    proc = _run("demo", "--model", "nosuch", "--port", "0", "--duration", "1")
    assert proc.returncode == 2 and "error: model 'nosuch' not found" in proc.stderr, proc.stdout + proc.stderr
    assert "error:" not in proc.stdout, proc.stdout
    proc = _run("inspect", "nosuch", "--models-dir", str(REPO / "models"))
    assert proc.returncode == 2 and "error: " in proc.stderr and "error:" not in proc.stdout, proc.stdout + proc.stderr
    proc = _run("models", "--models-dir", str(tmp_path / "none"))
    assert proc.returncode == 2 and f"--models-dir: models directory {tmp_path / 'none'} does not exist" in \
        proc.stderr, proc.stdout + proc.stderr
