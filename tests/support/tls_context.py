"""One CA context for every httpx client the tests make.

httpx parses certifi's CA bundle into a new SSL context for each client (~40 ms of CPU on this project's test
machines); the suite makes ~1,300 clients a run, all of them to plain ``http://127.0.0.1`` (51 s of CPU a run, by a
py-spy profile). The shared context is the one httpx builds (the same bundle, the same checks), built once.
"""

from __future__ import annotations

import functools


def share_one_ca_context() -> None:
    """Make ``httpx.Client`` and ``httpx.AsyncClient`` default ``verify`` to one context (an explicit ``verify`` is
    kept). Idempotent."""
    import ssl

    import certifi
    import httpx

    for cls in (httpx.Client, httpx.AsyncClient):
        init = cls.__init__
        if getattr(init, "_shared_ca", False):
            continue
        context = ssl.create_default_context(cafile=certifi.where())  # what httpx builds for verify=True

        @functools.wraps(init)
        def shared(self, *args, verify=context, _init=init, **kwargs):
            _init(self, *args, verify=verify, **kwargs)

        shared._shared_ca = True
        cls.__init__ = shared
