#!/usr/bin/env python3
"""An MCP client built on the PyPI `mcp` SDK (2.3.0: `mcp.Client`, the streamable HTTP
transport and `mcp.client.auth.OAuthClientProvider`), run by
end2end/tests/mcp-oauth.spec.ts against a sample MCP server whose tokens Portcullis issues.

The Python SDK supports both ways a client identifies itself, and this script does both:
with --client-metadata-url it uses that client ID metadata document (CIMD; the SDK picks it
when the authorization server metadata says `client_id_metadata_document_supported`),
without it the SDK registers the client (RFC 7591 DCR, only while Portcullis allows it).

What it does, all through the SDK:
  1. connects without a token: the server answers 401 with `resource_metadata`; the SDK
     reads Portcullis' RFC 9728 document (checks its `resource` against the server URL),
     then the RFC 8414 metadata (checks `issuer`);
  2. CIMD or DCR (above);
  3. the code flow with PKCE S256 and `resource`: prints `AUTHORIZE <url>` on one stdout
     line for the test to open in the browser, and waits for the browser on its loopback
     redirect URI (http://127.0.0.1:PORT/callback); the SDK checks `state` and `iss`;
  4. exchanges the code, lists tools and calls `echo`;
  5. refresh: the access token is made to look expired (its expiry time is set in the past,
     as if `expires_in` had passed), so the SDK refreshes before the next request, with
     `resource`; calls `echo` again;
  6. sends this server's access token to --other-server-url, which must refuse it.
Last stdout line: `RESULT <json>`, exit 0; on a failure `ERROR <message>` on stderr, exit 1.

Run (from end2end/, in the venv scripts/setup.sh makes):
  .venv/bin/python mcp/py_client.py --server-url http://127.0.0.1:P/mcp --other-server-url URL
      [--client-metadata-url https://.../client.json] [--client-name N] [--timeout-seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import traceback
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken


class MemoryStorage:
    """TokenStorage in memory; keeps every token response for the report."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None
        self.history: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class RedirectReceiver:
    """The loopback redirect URI: one GET /callback?code=…&state=…&iss=… from the browser."""

    def __init__(self) -> None:
        self.server: asyncio.base_events.Server | None = None
        self.result: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/callback"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
            parts = urlsplit(target)
            if parts.path != "/callback":
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            query = dict(parse_qsl(parts.query))
            text = "Not authorized" if "error" in query else "Authorized. You can close this window and go back to the app."
            body = f'<!doctype html><title>{text}</title><p data-testid="client-callback">{text}</p>'.encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            if not self.result.done():
                self.result.set_result(query)
        finally:
            await writer.drain()
            writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    receiver = RedirectReceiver()
    redirect_uri = await receiver.start()
    storage = MemoryStorage()
    authorization: dict[str, Any] = {}
    callback: dict[str, str] = {}

    async def redirect_handler(url: str) -> None:
        authorization["url"] = url
        print(f"AUTHORIZE {url}", flush=True)

    async def callback_handler() -> AuthorizationCodeResult:
        query = await receiver.result
        callback.update(query)
        if "error" in query:
            raise RuntimeError(f"authorization failed: {query['error']} {query.get('error_description', '')}")
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))

    metadata = OAuthClientMetadata(
        client_name=args.client_name,
        redirect_uris=[redirect_uri],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    provider = OAuthClientProvider(
        server_url=args.server_url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=args.client_metadata_url,
    )

    exchanges: list[dict[str, Any]] = []

    async def log_response(response: httpx2.Response) -> None:
        request = response.request
        form: dict[str, str] | None = None
        body = request.content
        if body and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl(body.decode()))
        elif body and body.startswith(b"{"):
            try:
                parsed = json.loads(body)
                form = {"jsonrpc_method": parsed["method"]} if "method" in parsed else parsed
            except (ValueError, KeyError, TypeError):
                form = None
        exchanges.append(
            {
                "method": request.method,
                "url": str(request.url),
                "status": response.status_code,
                "authorization": (request.headers.get("authorization") or "").split(" ")[0] or None,
                "www_authenticate": response.headers.get("www-authenticate"),
                "form": form,
            }
        )

    http = httpx2.AsyncClient(
        auth=provider,
        timeout=httpx2.Timeout(30, read=300),
        event_hooks={"response": [log_response]},
    )
    async with http:
        async with Client(streamable_http_client(args.server_url, http_client=http)) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            first = await client.call_tool("echo", {"message": "hello from python"})
            tokens1 = storage.tokens
            # The access token's lifetime passes (expires_in); the SDK refreshes before the next request.
            provider.context.token_expiry_time = time.time() - 1
            before = len(exchanges)
            second = await client.call_tool("echo", {"message": "after refresh"})
            tokens2 = storage.tokens
            refresh_exchanges = exchanges[before:]

    # Server A's access token at server B (a plain request, no SDK auth).
    async with httpx2.AsyncClient(timeout=30) as plain:
        at_b = await plain.post(
            args.other_server_url,
            headers={
                "Authorization": f"Bearer {tokens2.access_token}",
                "Accept": "application/json, text/event-stream",
            },
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}},
            },
        )
    receiver.close()

    def echo(result: Any) -> Any:
        for c in result.content:
            if c.type == "text":
                return json.loads(c.text)
        return None

    info = storage.client_info
    return {
        "mode": "cimd" if args.client_metadata_url else "dcr",
        "client_id": info.client_id if info else None,
        "client_information": json.loads(info.model_dump_json(exclude_none=True)) if info else None,
        "redirect_uri": redirect_uri,
        "authorization_url": dict(parse_qsl(urlsplit(authorization.get("url", "")).query)),
        "callback": {"state": callback.get("state"), "iss": callback.get("iss"), "has_code": "code" in callback},
        "tools": tools,
        "first_call": echo(first),
        "after_refresh": echo(second),
        "tokens": [
            {"access_token": t.access_token, "refresh_token": t.refresh_token, "token_type": t.token_type, "expires_in": t.expires_in}
            for t in storage.history
        ],
        "tokens_before_refresh": {"access_token": tokens1.access_token, "refresh_token": tokens1.refresh_token},
        "tokens_after_refresh": {"access_token": tokens2.access_token, "refresh_token": tokens2.refresh_token},
        "refresh_exchanges": refresh_exchanges,
        "cross_server": {"status": at_b.status_code, "www_authenticate": at_b.headers.get("www-authenticate")},
        "exchanges": exchanges,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--server-url", required=True)
    parser.add_argument("--other-server-url", required=True)
    parser.add_argument("--client-metadata-url", default=None)
    parser.add_argument("--client-name", default="Python MCP client (e2e)")
    parser.add_argument("--timeout-seconds", type=float, default=60)
    args = parser.parse_args()
    try:
        result = asyncio.run(asyncio.wait_for(run(args), args.timeout_seconds))
    except BaseException:  # noqa: BLE001 - report anything, including task-group exception groups
        print(f"ERROR {traceback.format_exc()}", file=sys.stderr, flush=True)
        return 1
    print(f"RESULT {json.dumps(result)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
