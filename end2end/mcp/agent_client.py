#!/usr/bin/env python3
"""An agent's MCP client on the PyPI `mcp` SDK: no person, no browser. It authenticates to
Portcullis with the `client_credentials` grant and `private_key_jwt` (RFC 7523), using the
SDK's own `mcp.client.auth.extensions.client_credentials.PrivateKeyJWTOAuthProvider` and
`SignedJWTParameters` (EdDSA, the agent's Ed25519 key), and talks to an MCP server behind
portcullis-gateway. end2end/tests/gateway.spec.ts drives it.

The SDK finds Portcullis through the gateway's 401 and RFC 9728 document, reads its RFC 8414
metadata (checked against --issuer), signs a fresh assertion for the issuer, asks for a token
with `resource` = the server URL, connects (initialize) and prints `READY`. Then one JSON
command per stdin line, one `OUT <json>` line each (as gateway_client.py):
  {"op": "list"}                               -> {"tools": ["name", ...]}
  {"op": "call", "name": N, "arguments": {}}   -> {"result": <text, parsed>} or {"error": {...}}
  {"op": "token"}                              -> {"access_token", "client_id"}
  {"op": "quit"}                               -> exits 0
On a failure: `ERROR <message>` on stderr, exit 1.

Run (from end2end/, in the venv scripts/setup.sh makes):
  .venv/bin/python mcp/agent_client.py --server-url <gateway>/<path> --issuer <console>
      --client-id agt_... --key-file <Ed25519 private key, PEM>
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import traceback

import httpx2
from mcp import Client
from mcp.client.auth.extensions.client_credentials import PrivateKeyJWTOAuthProvider, SignedJWTParameters
from mcp.client.streamable_http import streamable_http_client

from gateway_client import serve_commands
from py_client import MemoryStorage


async def run(args: argparse.Namespace) -> None:
    with open(args.key_file, encoding="utf-8") as f:
        key = f.read()
    storage = MemoryStorage()
    provider = PrivateKeyJWTOAuthProvider(
        server_url=args.server_url,
        storage=storage,
        client_id=args.client_id,
        assertion_provider=SignedJWTParameters(
            issuer=args.client_id,
            subject=args.client_id,
            signing_key=key,
            signing_algorithm="EdDSA",
            lifetime_seconds=60,
        ).create_assertion_provider(),
        issuer=args.issuer,
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
    parser.add_argument("--key-file", required=True)
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except BaseException:  # noqa: BLE001 - report anything, including task-group exception groups
        print(f"ERROR {traceback.format_exc()}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
