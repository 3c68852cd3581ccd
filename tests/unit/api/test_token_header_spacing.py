"""Review s50: ``/ready`` and ``/metrics`` read the token from the raw ``Authorization`` header (``token_ok``), every
other route through FastAPI's ``HTTPBearer``, which strips the credentials: ``Bearer  <token>`` (two spaces) opened
``/models`` but got ``/ready``'s hidden answer (and a 401 on ``/metrics`` with ``metrics_token``). Now both agree."""

from __future__ import annotations

import pytest
from fastapi.security.utils import get_authorization_scheme_param

from bci_stream.api.deps import token_ok
from bci_stream.core.settings import Settings

TOKEN = "spacing-token-123"


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}", f"Bearer  {TOKEN}", f"bearer   {TOKEN}"])
def test_a_header_httpbearer_accepts_is_accepted_by_token_ok(header):
    scheme, credentials = get_authorization_scheme_param(header)
    assert scheme.lower() == "bearer" and credentials == TOKEN  # what require_token (HTTPBearer) takes
    assert token_ok(Settings(token=TOKEN), header, None)


def test_a_wrong_or_empty_bearer_is_still_refused():
    settings = Settings(token=TOKEN)
    assert not token_ok(settings, f"Bearer {TOKEN}x", None)
    assert not token_ok(settings, "Bearer   ", None)
    assert token_ok(settings, "Bearer   ", TOKEN)  # an empty bearer: the query's token, as HTTPBearer gives None
