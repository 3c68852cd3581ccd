"""One CA context for every httpx client the tests make.

httpx parses certifi's CA bundle into a new SSL context for each client: 40 ms of CPU a client on this project's test
machines, 1.7 ms with the shared context. The suite makes on the order of a thousand clients a run, all of them to
plain ``http://127.0.0.1`` (a py-spy profile of its xdist workers sampled 51 s in that parsing, on a loaded machine:
an upper bound). The shared context is the one httpx builds (the same bundle, the same checks), built once.
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
