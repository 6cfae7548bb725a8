#!/usr/bin/env python3
"""An MCP app with enterprise-managed authorization (SEP-990, the ID-JAG grant) on the PyPI
`mcp` SDK: the SDK's own `mcp.client.auth.extensions.identity_assertion.
IdentityAssertionOAuthProvider` presents an Identity Assertion JWT Authorization Grant from the
company IdP to Portcullis (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`) and talks to
an MCP server behind portcullis-gateway with the token. No browser, no consent screen: the IdP
decided the app may ask, Portcullis's policy decides the tools. end2end/tests/gateway.spec.ts
drives it.

The ID-JAG comes from end2end/idp/oidc-idp.mjs (npm `oidc-provider`): the app holds its user's
ID token (GET <idp>/test/id-token?sub=<user>, standing in for the app's own sign-in) and trades
it at the IdP's token endpoint (RFC 8693 token exchange, as `mcp-app`) for an ID-JAG whose
`aud` is Portcullis and whose `resource` is the MCP server. The SDK reads Portcullis's RFC 8414
metadata from --issuer (configuration, never discovery through the server), asks for a token,
connects (initialize) and prints `READY`. Then the JSON commands of gateway_client.py, one per
stdin line, one `OUT <json>` line each. On a failure: `ERROR <message>` on stderr, exit 1.

Run (from end2end/, in the venv scripts/setup.sh makes):
  .venv/bin/python mcp/id_jag_client.py --server-url <gateway>/<path> --issuer <console>
      --client-id <id at Portcullis> --client-secret <secret> --idp <issuer> --user bob [--scope S]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import traceback

import httpx2
from mcp import Client
from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
from mcp.client.streamable_http import streamable_http_client

from gateway_client import serve_commands
from py_client import MemoryStorage

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_JAG = "urn:ietf:params:oauth:token-type:id-jag"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"


async def run(args: argparse.Namespace) -> None:
    async def id_jag(audience: str, resource: str) -> str:
        """Leg 1 at the IdP: the user's ID token for an ID-JAG (deployment-specific in the SDK)."""
        async with httpx2.AsyncClient(timeout=30) as idp:
            signed_in = await idp.get(f"{args.idp}/test/id-token", params={"sub": args.user})
            signed_in.raise_for_status()
            form = {
                "grant_type": TOKEN_EXCHANGE,
                "requested_token_type": ID_JAG,
                "subject_token": signed_in.json()["id_token"],
                "subject_token_type": ID_TOKEN,
                "audience": audience,
                "resource": resource,
            }
            if args.scope:
                form["scope"] = args.scope
            exchanged = await idp.post(f"{args.idp}/token", data=form, auth=("mcp-app", "mcp-app-secret"))
            if exchanged.status_code != 200:
                raise RuntimeError(f"the IdP refused the token exchange ({exchanged.status_code}): {exchanged.text}")
            body = exchanged.json()
            assert body["issued_token_type"] == ID_JAG, body
            return body["access_token"]

    storage = MemoryStorage()
    provider = IdentityAssertionOAuthProvider(
        server_url=args.server_url,
        storage=storage,
        client_id=args.client_id,
        client_secret=args.client_secret,
        issuer=args.issuer,
        assertion_provider=id_jag,
        scope=args.scope or None,
    )
    http = httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30, read=300))
    async with http:
        async with Client(streamable_http_client(args.server_url, http_client=http)) as client:
            print("READY", flush=True)
            await serve_commands(client, storage, args.client_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--server-url", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--idp", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--scope", default="")
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except BaseException:  # noqa: BLE001 - report anything, including task-group exception groups
        print(f"ERROR {traceback.format_exc()}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
