#!/usr/bin/env python3
"""An MCP client built on the PyPI `mcp` SDK (2.3.0: `mcp.Client`, the streamable HTTP
transport and `mcp.client.auth.OAuthClientProvider`) that end2end/tests/gateway.spec.ts
drives step by step against an MCP server behind portcullis-gateway.

It connects without a token; the gateway answers 401 with `resource_metadata`; the SDK
reads the gateway's RFC 9728 document (checks its `resource` against the server URL),
then Portcullis' RFC 8414 metadata, registers itself (RFC 7591, registration must be on)
and starts the code flow with PKCE S256 and `resource`, printing `AUTHORIZE <url>` for the
test to complete in the browser; it waits on its loopback redirect URI, exchanges the
code, connects (initialize) and prints `READY`.

Then it reads one JSON command per stdin line and answers each with one stdout line
`OUT <json>`:
  {"op": "list"}                               -> {"tools": ["name", ...]}
  {"op": "call", "name": N, "arguments": {}}   -> {"result": <the tool's text, parsed>}
                                                  or {"error": {"code", "message", "data"}}
  {"op": "token"}                              -> {"access_token", "client_id"}
  {"op": "quit"}                               -> closes the session, exits 0
On a failure: `ERROR <message>` on stderr, exit 1.

Run (from end2end/, in the venv scripts/setup.sh makes):
  .venv/bin/python mcp/gateway_client.py --server-url <gateway>/<path> [--client-name N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import traceback
from typing import Any

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

# The same in-memory token storage and loopback redirect receiver as py_client.py.
from py_client import MemoryStorage, RedirectReceiver
from mcp.shared.auth import OAuthClientMetadata


def out(value: Any) -> None:
    print(f"OUT {json.dumps(value)}", flush=True)


def parse_text(result: Any) -> Any:
    for c in result.content:
        if c.type == "text":
            try:
                return json.loads(c.text)
            except ValueError:
                return c.text
    return None


async def serve_commands(client: Client, storage: MemoryStorage, client_id: str | None) -> None:
    """Answers the stdin commands of the module docs until `quit` or end of input."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        if not line.strip():
            continue
        cmd = json.loads(line)
        op = cmd.get("op")
        if op == "list":
            out({"tools": [t.name for t in (await client.list_tools()).tools]})
        elif op == "call":
            try:
                result = await client.call_tool(cmd["name"], cmd.get("arguments") or {})
                out({"result": parse_text(result)})
            except MCPError as err:
                out({"error": {"code": err.code, "message": err.message, "data": err.data}})
        elif op == "token":
            out({
                "access_token": storage.tokens.access_token if storage.tokens else None,
                "client_id": client_id,
            })
        elif op == "quit":
            return
        else:
            raise RuntimeError(f"unknown command {line!r}")


async def run(args: argparse.Namespace) -> None:
    receiver = RedirectReceiver()
    redirect_uri = await receiver.start()
    storage = MemoryStorage()

    async def redirect_handler(url: str) -> None:
        print(f"AUTHORIZE {url}", flush=True)

    async def callback_handler() -> AuthorizationCodeResult:
        query = await receiver.result
        if "error" in query:
            raise RuntimeError(f"authorization failed: {query['error']} {query.get('error_description', '')}")
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))

    provider = OAuthClientProvider(
        server_url=args.server_url,
        client_metadata=OAuthClientMetadata(
            client_name=args.client_name,
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    http = httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30, read=300))
    async with http:
        async with Client(streamable_http_client(args.server_url, http_client=http)) as client:
            receiver.close()
            print("READY", flush=True)
            info = storage.client_info
            await serve_commands(client, storage, info.client_id if info else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--server-url", required=True)
    parser.add_argument("--client-name", default="Python MCP client (gateway e2e)")
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except BaseException:  # noqa: BLE001 - report anything, including task-group exception groups
        print(f"ERROR {traceback.format_exc()}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
