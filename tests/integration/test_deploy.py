"""Deployment files: compose, Dockerfile, systemd unit, LSL configs, and the settings reference in deploy/README."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from bci_stream.core.settings import Settings, env_var
from bci_stream.core.settings_reference import REFERENCE_BEGIN, REFERENCE_END, settings_markdown
from support.common import REPO

ROOT = REPO
DEPLOY = ROOT / "deploy"
REGENERATE = "run `python -m bci_stream.core.settings --write deploy/README.md`"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BCI_STREAM_", "LSLAPICFG"))}
    env.update(extra)
    return env


# ------------------------------------------------------------------------------------------- compose


def load_compose() -> dict:
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with the dev extra (schemathesis)")
    return yaml.safe_load((DEPLOY / "compose.yml").read_text(encoding="utf-8"))


def test_compose_services_and_settings() -> None:
    compose = load_compose()
    services = compose["services"]
    assert set(services) == {"bci-stream", "simulator"}
    for name, service in services.items():
        assert service["network_mode"] == "host", f"{name}: LSL discovery needs the host network"
        assert service["image"] == services["bci-stream"]["image"]
    api, sim = services["bci-stream"], services["simulator"]
    assert re.fullmatch(r"\$\{BCI_STREAM_TOKEN:\?.+\}", api["environment"]["BCI_STREAM_TOKEN"])
    assert api["command"] == ["serve"]
    assert sim["command"][0] == "simulate" and sim["profiles"] == ["dry-run"]
    assert sim["healthcheck"] == {"disable": True}
    # Everything the service is given through the environment is a setting (or liblsl's LSLAPICFG).
    names = {env_var(n) for n in Settings.model_fields}
    assert set(api["environment"]) - {"LSLAPICFG"} <= names


def compose_references(compose: dict) -> list[Path]:
    """Every local file or folder compose.yml points at, resolved against deploy/."""
    refs = []
    for service in compose["services"].values():
        build = service.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            refs += [context, context / build.get("dockerfile", "Dockerfile")]
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/")):
                refs.append((DEPLOY / source).resolve())
        env_files = service.get("env_file", [])
        for f in [env_files] if isinstance(env_files, str) else env_files:  # (long syntax: a path, maybe optional)
            if isinstance(f, str) or f.get("required", True):
                refs.append((DEPLOY / (f if isinstance(f, str) else f["path"])).resolve())
    return refs


def test_the_env_file_reaches_the_service_as_its_template_says() -> None:
    """deploy/bci-stream.env.example says any setting in deploy/.env reaches the service under compose; compose reads
    .env only for ${...} values unless the service names it (audit s69deploy F2: BCI_STREAM_LOG_LEVEL there was
    ignored)."""
    assert "Any other setting can be given here too" in (DEPLOY / "bci-stream.env.example").read_text()
    env_files = load_compose()["services"]["bci-stream"]["env_file"]
    assert [f["path"] if isinstance(f, dict) else f for f in env_files] == [".env"]


def test_compose_references_existing_files() -> None:
    refs = compose_references(load_compose())
    assert ROOT in refs and DEPLOY / "Dockerfile" in refs and DEPLOY / "lsl_api.cfg" in refs
    missing = [str(p) for p in refs if not p.exists()]
    assert missing == [], f"compose.yml refers to missing files: {missing}"


def docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not docker_compose_available(), reason="the `docker compose` plugin is not installed here")
def test_docker_compose_config(tmp_path: Path) -> None:
    cmd = ["docker", "compose", "-f", str(DEPLOY / "compose.yml"), "--env-file", str(tmp_path / "none.env")]
    (tmp_path / "none.env").write_text("")
    missing = subprocess.run(cmd + ["config"], capture_output=True, text=True, env=clean_env())
    assert missing.returncode != 0 and "BCI_STREAM_TOKEN" in missing.stderr
    ok = subprocess.run(cmd + ["--profile", "dry-run", "config", "--format", "json"], capture_output=True,
                        text=True, env=clean_env(BCI_STREAM_TOKEN="a-token-for-the-test"))
    assert ok.returncode == 0, ok.stderr
    assert set(json.loads(ok.stdout)["services"]) == {"bci-stream", "simulator"}


# ---------------------------------------------------------------------------------------- Dockerfile


def dockerfile_lines() -> list[str]:
    """Instructions of deploy/Dockerfile, continuation lines joined, comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines, current = [], ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#") and not current:
            continue
        current += raw.rstrip("\\").rstrip() + " " if raw.endswith("\\") else raw
        if not raw.endswith("\\"):
            if current.strip():
                lines.append(current.strip())
            current = ""
    return lines


def test_dockerfile_runtime_image() -> None:
    lines = dockerfile_lines()
    final = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    assert re.search(r"python:3\.11-slim", " ".join(lines)), "a slim Python 3.11 base"
    users = [line.split()[1] for line in lines[final:] if line.startswith("USER ")]
    assert users and not users[-1].startswith(("root", "0")), "the final stage runs as a non-root user"
    installed = [part.split("pip install", 1)[1].split() for line in lines for part in line.split("&&")
                 if "pip install" in part]
    assert installed == [["-c", "constraints.txt", '".${EXTRAS:+[$EXTRAS]}"']], \
        f"install the package itself at the tested versions, no torch: {installed}"
    assert 'ARG EXTRAS=""' in lines, "no extras by default: runtime dependencies only"
    assert any(line.startswith("COPY models ") for line in lines[final:]), "the models are in the image"


def test_dockerfile_copies_only_existing_allowed_files() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    for line in dockerfile_lines():
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"{line!r}: {source} does not exist"
                assert source in allowed, f"{line!r}: {source} is not allowed in Dockerfile.dockerignore"


def test_the_build_stage_holds_what_its_pip_install_needs(tmp_path: Path) -> None:
    """The build stage's COPY lines, replayed into an empty folder, give a tree that builds the package's wheel with
    the bundled models in it (data files of pyproject.toml: before, the stage copied no ``models`` and the build
    would fail on them)."""
    lines = dockerfile_lines()
    final = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    for line in lines[:final]:
        if line.startswith("COPY ") and "--from=" not in line:
            *sources, dest = line.split()[1:]
            for source in sources:
                target = tmp_path / dest / (Path(source).name if dest.endswith("/") else "")
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(ROOT / source, target)
    out = tmp_path / "wheel"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                           "-w", str(out), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [wheel] = out.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith("share/bci-stream/models/sim-mi-gru/model.onnx") for n in names), names[-20:]


def healthcheck_command() -> list[str]:
    [line] = [line for line in dockerfile_lines() if line.startswith("HEALTHCHECK ")]
    command = json.loads(line.split(" CMD ", 1)[1])
    assert command[0] == "python" and "/health" in command[-1]
    return [sys.executable, *command[1:]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthcheck_against_serve_with_config(tmp_path: Path) -> None:
    """`serve --config` reads the file at start-up, and the image's health check finds the API through it."""
    config = tmp_path / "bci-stream.toml"
    (tmp_path / "models").mkdir()
    check = healthcheck_command()
    env = clean_env(BCI_STREAM_CONFIG=str(config))
    for _ in range(3):  # the port is free when picked; another process of the suite may bind it before the server
        port = free_port()
        config.write_text(f'port = {port}\nmodels_dir = "models"\n', encoding="utf-8")
        server = subprocess.Popen([sys.executable, "-m", "bci_stream.cli", "serve", "--config", str(config)],
                                  cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                result = subprocess.run(check, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
                if result.returncode == 0 or server.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
        finally:
            server.terminate()
            out, _ = server.communicate(timeout=30)
        if not (server.returncode == 2 and f"port {port} on 127.0.0.1 is in use" in out):
            break
    assert result.returncode == 0, f"health check failed: {result.stderr}\nserver: {server.returncode}\n{out}"
    assert f"127.0.0.1:{port}" in out
    down = subprocess.run(check, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert down.returncode != 0 and "Connection refused" in down.stderr


# ------------------------------------------------------------------------------------------- systemd


def unit_lines() -> list[str]:
    return (DEPLOY / "bci-stream.service").read_text(encoding="utf-8").splitlines()


def unit_settings() -> dict[str, str]:
    return dict(line.split("=", 1) for line in unit_lines() if "=" in line and not line.startswith(("#", ";")))


def test_systemd_unit_contents() -> None:
    keys = unit_settings()
    assert keys["Restart"] == "on-failure"
    assert keys["CPUAffinity"]
    assert keys["EnvironmentFile"].lstrip("-") == "/etc/bci-stream/bci-stream.env"
    assert "#CPUSchedulingPolicy=fifo" in unit_lines(), "real-time priority is offered, commented out"
    assert "PrivateNetwork" not in keys and "IPAddressDeny" not in keys, "LSL needs the host network"
    assert {"AF_INET", "AF_INET6", "AF_NETLINK"} <= set(keys["RestrictAddressFamilies"].split())
    exec_start = keys["ExecStart"].split()
    assert exec_start[1:3] == ["serve", "--config"]
    from bci_stream.cli import main as cli

    assert "config" in {p.name for p in cli.commands["serve"].params}


def systemd_verify(unit: Path) -> str:
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120)
    return (proc.stdout + proc.stderr).strip() + ("" if proc.returncode == 0 else f"\nexit code {proc.returncode}")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    # ExecStart must name an existing executable for `verify`: use this checkout's bci-stream (or python).
    exe = shutil.which("bci-stream", path=str(Path(sys.executable).parent)) or sys.executable
    text = (DEPLOY / "bci-stream.service").read_text(encoding="utf-8")
    assert "/opt/bci-stream/venv/bin/bci-stream" in text
    unit = tmp_path / "bci-stream.service"
    unit.write_text(text.replace("/opt/bci-stream/venv/bin/bci-stream", exe), encoding="utf-8")
    assert systemd_verify(unit) == ""
    # The check is not blind: a misspelt key is reported.
    unit.write_text(text.replace("/opt/bci-stream/venv/bin/bci-stream", exe).replace("Restart=", "Restrat="))
    assert "Restrat" in systemd_verify(unit)


# ------------------------------------------------------------------------------ settings reference


def reference_block() -> str:
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    start, end = text.find(REFERENCE_BEGIN), text.find(REFERENCE_END)
    assert 0 <= start < end, f"deploy/README.md lacks the generated settings block; {REGENERATE}"
    return text[start:end + len(REFERENCE_END)] + "\n"


def test_reference_names_match_the_settings_class() -> None:
    documented = re.findall(r"^\| `([a-z0-9_]+)` \| `BCI_STREAM_([A-Z0-9_]+)` \|", reference_block(), re.M)
    assert all(env == name.upper() for name, env in documented)
    documented_names = {name for name, _ in documented}
    fields = set(Settings.model_fields)
    missing, unknown = sorted(fields - documented_names), sorted(documented_names - fields)
    assert not missing, f"settings missing from deploy/README.md: {missing}; {REGENERATE}"
    assert not unknown, f"deploy/README.md documents settings the class lacks: {unknown}; {REGENERATE}"


def test_reference_is_the_generated_table() -> None:
    assert reference_block() == settings_markdown(), f"deploy/README.md has a stale settings reference; {REGENERATE}"


def test_env_example_sets_only_settings() -> None:
    names = {env_var(n) for n in Settings.model_fields}
    lines = (DEPLOY / "bci-stream.env.example").read_text(encoding="utf-8").splitlines()
    keys = [line.split("=", 1)[0].lstrip("# ").strip() for line in lines if re.match(r"#? ?BCI_STREAM_\w+=", line)]
    assert "BCI_STREAM_TOKEN" in keys and set(keys) <= names


# ------------------------------------------------------------------------------------- LSL configs

LSL_PROBE = """
import time, pylsl
outlet = pylsl.StreamOutlet(pylsl.StreamInfo({name!r}, "EEG", 2, 100.0, "float32", {name!r} + "-src"))
if {resolve!r}:
    found = pylsl.resolve_byprop("name", {name!r}, 1, 10.0)
    inlet = pylsl.StreamInlet(found[0])
    inlet.open_stream(10.0)
    time.sleep(0.2)
    outlet.push_sample([1.5, -2.5])
    sample, ts = inlet.pull_sample(10.0)
    print("SAMPLE", sample)
print("DONE")
"""


# The lab-network template is only loaded (an outlet, no discovery: its queries would leave this host);
# the loopback-only one is used end to end, since its discovery stays on 127.0.0.1.
@pytest.mark.parametrize(("cfg", "resolve"), [("lsl_api.cfg", False), ("lsl_api.loopback.cfg", True)])
def test_lsl_config_is_loaded(cfg: str, resolve: bool, tmp_path: Path) -> None:
    """liblsl parses the file (it logs which file it loaded, or an error) and, on loopback, a stream flows. The
    templates keep liblsl to warnings (``[log] level = -1``), which hides its INFO line that names the file loaded:
    the file is read here as the template with that level at 0 (INFO), and the template's own level is checked."""
    text = (DEPLOY / cfg).read_text(encoding="utf-8")
    assert "\n[log]\n" in text and "\nlevel = -1\n" in text, f"{cfg}: liblsl's INFO lines would fill the service log"
    loaded = tmp_path / cfg
    loaded.write_text(text.replace("\nlevel = -1\n", "\nlevel = 0\n"), encoding="utf-8")
    name = f"deploy-cfg-{os.getpid()}-{cfg.split('.')[1]}"
    proc = subprocess.run([sys.executable, "-c", LSL_PROBE.format(name=name, resolve=resolve)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=clean_env(LSLAPICFG=str(loaded)))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "DONE" in proc.stdout, log
    assert f"Configuration loaded from {loaded}" in log
    assert "Error parsing config" not in log
    if resolve:
        assert "SAMPLE [1.5, -2.5]" in proc.stdout
