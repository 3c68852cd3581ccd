"""A Ray actor compares the service's code stamp with its node's code before it imports the worker: a node with other
code refuses the decoder as a local worker does (``error``, "restart serve", exit code 3, not restarted) instead of
failing in whatever way the two versions disagree; an actor with the service's code decodes as before. A one-node
Ray cluster on loopback (``ray.cluster_utils.Cluster``), a supervisor in this process (a Ray driver), real actors.
The node's code is this checkout; the service's stamp is made to differ, as after an upgrade of the node. Skips only
when Ray (the ``cluster`` extra) is not installed."""

from __future__ import annotations

import faulthandler
import socket
import time

import pytest

from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.ray_connect import kept_signal_handlers
from bci_stream.service.supervisor import Supervisor
from bci_stream.service.worker import EXIT_REFUSED
from support.common import unique
from support.crash_handlers import FATAL_SIGNALS, caught_signals, kept_crash_report

try:
    from ray.cluster_utils import Cluster
except ImportError:  # the cluster extra is not installed
    Cluster = None

pytestmark = [pytest.mark.skipif(Cluster is None, reason="Ray is not installed (pip install '.[cluster]')"),
              pytest.mark.timeout(300)]


def until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.05)
    return result


def test_an_actor_on_a_node_with_other_code_refuses_to_run(models_dir, request):
    with kept_crash_report(request.config):  # the supervisor's Ray driver here turns faulthandler off
        _refused_on_a_node_with_other_code(models_dir)
    if faulthandler.is_enabled():  # a native crash later in this pytest worker is still reported
        assert set(FATAL_SIGNALS) <= caught_signals()


def _refused_on_a_node_with_other_code(models_dir) -> None:
    cluster = Cluster()
    try:
        with kept_signal_handlers():  # Ray's head leaves its SIGTERM handler (sys.exit) in this xdist worker
            cluster.add_node(num_cpus=1, object_store_memory=100 * 2**20, node_ip_address="127.0.0.1",
                             include_dashboard=False)
        sup = Supervisor(str(models_dir), status_interval=0.1, restart_backoff=0.1, backend="ray",
                         backend_options={"address": cluster.address, "listen_host": "127.0.0.1",
                                          "start_timeout": 90})
        try:
            spec = {"stream": {"name": unique("s16fb-ray-never")}, "model": "tiny-gru"}
            same = sup.start(DecoderSpec.model_validate(spec))  # the service's code: the worker runs (resolving)
            until(lambda: same.status.state == "connecting", 60, "the actor with the service's code to resolve")
            sup.backend.code_stamp = "0123456789abcdef"  # as if the node had been upgraded under the service
            other = sup.start(DecoderSpec.model_validate(spec))
            until(lambda: other.status.state == "error" and other.last_error, 60, "the refusal")
            time.sleep(0.5)  # a restart, if any, would be counted by now (backoff 0.1 s)
            assert other.restarts == 0 and other.exit_code == EXIT_REFUSED, (other.last_error, other.exit_code)
            # audit s45 (Ray F3): the reason names the node's host and both ways out (it said only "restart serve",
            # which cannot help a node running another version)
            host = socket.gethostname()
            assert other.last_error.startswith(f"the bci-stream code on host {host} ("), other.last_error
            assert ("is not serve's (stamped 0123456789abcdef): on another node than serve's, install serve's version "
                    "of bci-stream there (deploy/RAY.md); on serve's host, the code changed since serve started (a pip "
                    "install -U or a git pull): restart serve") in other.last_error, other.last_error
            assert other.status.worker["kind"] == "ray"
            assert same.status.state == "connecting" and same.restarts == 0
        finally:
            sup.shutdown()
    finally:
        cluster.shutdown()
