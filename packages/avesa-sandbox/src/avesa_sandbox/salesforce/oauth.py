"""The OAuth 2 token endpoint of a simulated org: ``POST {login}/services/oauth2/token``.

Client credentials flow, as Salesforce implements it: the form (or the query string) carries
``grant_type=client_credentials``, ``client_id`` and ``client_secret`` (the client may come as
``Authorization: Basic`` instead). Success returns the access token, the ``instance_url`` to call,
the identity URL and a signature; failures are 400 with ``{"error", "error_description"}``. Token
requests are not API calls: no throttling, faults or daily-allocation counting.
"""

from __future__ import annotations

import base64
import binascii
import time
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request

from avesa_sandbox.instances import Instance
from avesa_sandbox.salesforce import errors
from avesa_sandbox.salesforce.auth import credentials_for, org_id, signature
from avesa_sandbox.salesforce.builders import integration_user_id
from avesa_sandbox.salesforce.simulator import SalesforceSimulator

NO_STORE = {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"}


def _client(params: dict[str, str], authorization: str) -> tuple[str | None, str | None]:
    """(client id, secret) from the form, else from ``Authorization: Basic``."""
    if "client_id" in params or not authorization.lower().startswith("basic "):
        return params.get("client_id"), params.get("client_secret")
    try:
        client_id, _, secret = base64.b64decode(authorization[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return client_id, secret


async def token(instance: Instance, simulator: SalesforceSimulator, request: Request) -> tuple[int, bytes]:
    """(status, body) of a token request."""
    form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    params = {**dict(request.query_params), **form}
    client_id, client_secret = _client(params, request.headers.get("authorization", ""))
    expected = credentials_for(instance.name)
    if params.get("grant_type") != "client_credentials":
        return 400, errors.oauth_error("unsupported_grant_type", "grant type not supported")
    if client_id != expected.client_id:
        return 400, errors.oauth_error("invalid_client_id", "client identifier invalid")
    if client_secret != expected.client_secret:
        return 400, errors.oauth_error("invalid_client", "invalid client credentials")
    issued_at = str(int(time.time() * 1000))
    identity = f"{simulator.login_url}/id/{org_id(instance.name)}/{integration_user_id()}"
    body = {
        "access_token": simulator.tokens.issue(instance.knobs.token_ttl_seconds),
        "signature": signature(expected.client_secret, identity, issued_at),
        "scope": "api",
        "instance_url": simulator.login_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
    }
    return 200, orjson.dumps(body)
