"""What ``serve`` says about its settings as it starts: one INFO summary line, and a WARNING for a ``models_dir`` that
gives no model and for a control API open to the network.

Before (an operator audit), a ``models_dir`` that did not exist or held no valid model was accepted with no log line
while ``/health`` (the container's HEALTHCHECK) said ok, and the log named neither the config file, the models folder,
the recordings folder nor whether a token was set. The start is not refused for a ``models_dir`` without models: a lab
may add models later (``/ready`` answers 503 until then), as an unusable ``recordings_dir`` is warned about, not
refused.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from pathlib import Path

from bci_stream import __version__
from bci_stream.core.registry import ModelEntry, ModelRegistry
from bci_stream.core.settings import Settings

log = logging.getLogger("bci_stream.api")


def usable_models(registry: ModelRegistry) -> tuple[list[ModelEntry], list[str], list[ModelEntry]]:
    """The models a decoder can run, one message per model folder that is not one (what ``/ready`` counts and lists
    in ``model_problems``: :meth:`ModelRegistry.checked`, the check ``bci-stream models`` makes too), and every
    entry the scan read."""
    checked, problems = registry.checked()
    return ([entry for entry, why in checked if why is None],  # (copies of one model share one problem: said once)
            list(dict.fromkeys(problems + [why for _, why in checked if why])), [entry for entry, _ in checked])


def models_dir_problem(root: Path, usable: list[ModelEntry], problems: list[str]) -> str | None:
    """Why ``models_dir`` gives no model (does not exist, is not a folder, cannot be read, holds no valid model), or
    None when it holds one."""
    if usable:
        return None
    try:
        if root.exists() and not root.is_dir():
            return "is not a folder"
        if not root.exists():
            return "does not exist"
    except OSError as exc:  # a name too long (ENAMETOOLONG), a folder on the way that cannot be searched
        return f"cannot be looked at ({exc.strerror or exc})"
    if (why := ModelRegistry(root).root_problem()) is not None:
        return why
    if problems:
        return f"holds no valid model ({len(problems)} with problems, first: {problems[0]})"
    return "holds no valid model (no sub-folder with model.json and model.onnx)"


def loopback_only(host: str) -> bool:
    """Whether ``host`` (the bind address) is reachable from this host only: every address it stands for loopback."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def open_api_problem(settings: Settings) -> str | None:
    """Why ``serve`` refuses to start: no token on a bind address reachable from the network, without ``open_api``
    (audit s46, security S4: only a WARNING before); None when it may start."""
    if settings.token or settings.open_api or loopback_only(settings.host):
        return None
    return (f"no API token is set (setting token, env BCI_STREAM_TOKEN) and host {settings.host!r} is reachable from "
            "the network: whoever reaches the port could start, stop and swap decoders and record; set a token (and "
            "put a TLS reverse proxy in front: deploy/README.md), bind to 127.0.0.1, or set open_api (env "
            "BCI_STREAM_OPEN_API=true) to serve it open on purpose")


def log_startup(settings: Settings, registry: ModelRegistry) -> None:
    """The start-up summary (INFO; never the token) and the WARNINGs about a ``models_dir`` without a model and an
    open control API. Each setting's origin is said (``--models-dir``, an environment variable, the env file, the
    config file's key, the default) when it came from :func:`~bci_stream.core.settings_errors.load_settings`."""
    from bci_stream.core.settings_errors import setting_origin

    usable, problems, _ = usable_models(registry)
    config = f"{settings.config} ({setting_origin('config', settings)})" if settings.config is not None else "none"
    log.info("bci-stream %s starting: config file %s; models_dir %s (%s): %d model(s), %d with problems; "
             "recordings_dir %s (%s); API token %s; host %s, port %d, backend %s, default worker %s", __version__,
             config, settings.models_dir, setting_origin("models_dir", settings), len(usable), len(problems),
             settings.recordings_dir, setting_origin("recordings_dir", settings),
             "set" if settings.token else "not set", settings.host, settings.port, settings.backend,
             settings.worker if settings.backend == "local" else "none (a Ray actor per decoder)")
    if (why := models_dir_problem(Path(settings.models_dir), usable, problems)) is not None:
        log.warning("models_dir %s (setting models_dir, from %s) %s: every decoder is refused and /ready answers 503 "
                    "until a valid model is there (/health still answers ok)", settings.models_dir,
                    setting_origin("models_dir", settings), why)
    if not settings.token and not loopback_only(settings.host):  # open_api set, else serve refused to start
        log.warning("no API token is set (setting token, env BCI_STREAM_TOKEN) and host %s is reachable from the "
                    "network: the control API is open to anyone who reaches it, as open_api allows (set a token, and "
                    "put a TLS reverse proxy in front: deploy/README.md)", settings.host)
    if settings.backend == "local" and settings.ray_address:  # (before: said nothing; audit s61ray F7)
        log.warning("ray_address %s (%s) is not used: backend is 'local' (%s); give --backend ray to run the decoders "
                    "on that Ray cluster", settings.ray_address, setting_origin("ray_address", settings),
                    setting_origin("backend", settings))


__all__ = ["log_startup", "loopback_only", "models_dir_problem", "open_api_problem", "usable_models"]
