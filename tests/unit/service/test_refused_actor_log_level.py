"""A Ray actor that refuses its decoder (its node runs other code than the service) logs at the service's level,
which it gets as an argument (a node's processes do not have the service's environment): it logged at INFO, its
node's default, whatever the service's ``log_level`` (review s62 F5). Run in a process of its own (the root
logger's level is the point); the actor's connections back to the supervisor are stand-ins that take its refusal."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import logging
import bci_stream.service.worker_entry as we

class Taken:
    def send(self, message): pass
    def send_bytes(self, payload): pass
    def close(self): pass

we.connect_back = lambda *args, **kwargs: Taken()
rest = ('{"model": "m", "stream": {"name": "a"}}', "/tmp", 0.25, None, None, None, None, None, "critical")
assert len(rest) == we.LOG_LEVEL_AT + 1  # positional, as the Ray backend passes every argument
host = we.StampedWorkerHost("not-this-code", ("127.0.0.1", 1), b"k", "t", "d1", 1, *rest)
assert host.refusal is not None
host.start()
print(logging.getLevelName(logging.getLogger().level))
"""


def test_a_refused_actor_logs_at_the_services_level() -> None:
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["CRITICAL"] and " ERROR " not in run.stderr, (run.stdout, run.stderr)
