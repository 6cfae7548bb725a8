#!/usr/bin/env node
// The "everything" MCP server that the MCP conformance suite's server scenarios
// (npm @modelcontextprotocol/conformance) are written against, for
// scripts/mcp-conformance-gateway.sh: the suite runs against it directly and through
// portcullis-gateway. The npm package ships no server, so this is a JavaScript port of
// the suite repository's reference, examples/servers/typescript/everything-server.ts
// (github.com/modelcontextprotocol/conformance, 0.2.0-alpha.11), on the npm SDK
// `@modelcontextprotocol/sdk` of end2end/package.json: the same tools, resources,
// prompts, logging, completion, subscriptions, SSE resumability (event store, `retry`)
// and session lifecycle, with the same names and answers.
//
// What the port leaves out: the reference's draft 2026-07-28 stateless path (requests
// without a session that carry per-request `_meta`: server/discover,
// subscriptions/listen, the input-required-result tools), which only the suite's draft
// scenarios use (its default "active" suite excludes them), and CORS headers (no
// browser talks to it). Such requests get what a 2025-era server answers: 400 without a
// session.
//
// Loopback, http, DNS-rebinding protection on (the SDK's createMcpExpressApp: a Host
// other than localhost / 127.0.0.1 / [::1] is refused with 403).
//
// Run:
//   node end2end/mcp/everything-server.mjs [--port 0]
// Prints exactly one stdout line once ready:
//   everything server listening on http://127.0.0.1:PORT/mcp
// Stops on SIGTERM / SIGINT.

import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { toJsonSchemaCompat } from '@modelcontextprotocol/sdk/server/zod-json-schema-compat.js';
import {
  ElicitResultSchema,
  ListPromptsRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

let args;
try {
  ({ values: args } = parseArgs({ options: { port: { type: 'string', default: '0' } }, strict: true }));
} catch (err) {
  process.stderr.write(`everything-server: ${err.message}\nusage: node end2end/mcp/everything-server.mjs [--port 0]\n`);
  process.exit(2);
}
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`everything-server: --port must be 0..65535, got ${args.port}\n`);
  process.exit(2);
}

// ---- server state -------------------------------------------------------------------
const resourceSubscriptions = new Set();
const watchedResourceContent = 'Watched resource content';

/** Open sessions: their transports and servers. */
const transports = {};
const servers = {};

// An in-memory event store, for resumable SSE streams (SEP-1699: Last-Event-ID).
const eventStoreData = new Map();

function createEventStore() {
  return {
    async storeEvent(streamId, message) {
      const eventId = `${streamId}::${Date.now()}_${randomUUID()}`;
      eventStoreData.set(eventId, { eventId, message, streamId });
      return eventId;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const streamId = lastEventId.split('::')[0];
      const replay = [];
      for (const [eventId, data] of eventStoreData.entries()) {
        if (data.streamId === streamId && eventId > lastEventId) replay.push([eventId, data]);
      }
      replay.sort(([a], [b]) => a.localeCompare(b));
      for (const [eventId, { message }] of replay) {
        if (Object.keys(message).length > 0) await send(eventId, message);
      }
      return streamId;
    },
  };
}

// A 1x1 red PNG pixel and a minimal WAV file.
const TEST_IMAGE_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const TEST_AUDIO_BASE64 = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';

// SEP-1613 / SEP-2106: a raw JSON Schema 2020-12 input schema ($schema, $defs, $anchor,
// composition and conditional keywords, additionalProperties) that tools/list must
// return as it is.
const JSON_SCHEMA_2020_12_INPUT_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: {
      $anchor: 'addressDef',
      type: 'object',
      properties: { street: { type: 'string' }, city: { type: 'string' } },
    },
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (t) => ({ content: [{ type: 'text', text: t }] });

/** One MCP server per session, with everything registered. */
function createMcpServer() {
  const mcpServer = new McpServer(
    { name: 'mcp-conformance-test-server', version: '1.0.0' },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
    },
  );

  // SEP-2549: caching hints on the list results and resource reads.
  const setRequestHandler = mcpServer.server.setRequestHandler.bind(mcpServer.server);
  const cachedLists = new Set([
    ListToolsRequestSchema,
    ListPromptsRequestSchema,
    ListResourcesRequestSchema,
    ListResourceTemplatesRequestSchema,
  ]);
  mcpServer.server.setRequestHandler = (schema, handler) =>
    cachedLists.has(schema)
      ? setRequestHandler(schema, async (...a) => ({ ...(await handler(...a)), ttlMs: 300000, cacheScope: 'public' }))
      : setRequestHandler(schema, handler);
  const registerResource = mcpServer.registerResource.bind(mcpServer);
  mcpServer.registerResource = (name, uriOrTemplate, config, read) =>
    registerResource(name, uriOrTemplate, config, async (...a) => ({
      ...(await read(...a)),
      ttlMs: 300000,
      cacheScope: 'private',
    }));

  function sendLog(level, message, data) {
    mcpServer.server
      .notification({
        method: 'notifications/message',
        params: { level, logger: 'conformance-test-server', data: data || message },
      })
      .catch(() => {}); // no client connected
  }

  // ===== TOOLS =====
  // (tool() rather than registerTool() for the first, as the reference does.)
  mcpServer.tool('test_simple_text', 'Tests simple text content response', {}, async () =>
    text('This is a simple text response for testing.'),
  );

  mcpServer.registerTool('test_image_content', { description: 'Tests image content response' }, async () => ({
    content: [{ type: 'image', data: TEST_IMAGE_BASE64, mimeType: 'image/png' }],
  }));

  mcpServer.registerTool('test_audio_content', { description: 'Tests audio content response' }, async () => ({
    content: [{ type: 'audio', data: TEST_AUDIO_BASE64, mimeType: 'audio/wav' }],
  }));

  mcpServer.registerTool(
    'test_embedded_resource',
    { description: 'Tests embedded resource content response' },
    async () => ({
      content: [
        {
          type: 'resource',
          resource: {
            uri: 'test://embedded-resource',
            mimeType: 'text/plain',
            text: 'This is an embedded resource content.',
          },
        },
      ],
    }),
  );

  mcpServer.registerTool(
    'test_multiple_content_types',
    { description: 'Tests response with multiple content types (text, image, resource)' },
    async () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: TEST_IMAGE_BASE64, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: {
            uri: 'test://mixed-content-resource',
            mimeType: 'application/json',
            text: JSON.stringify({ test: 'data', value: 123 }),
          },
        },
      ],
    }),
  );

  // An empty inputSchema makes the callback get (args, extra).
  mcpServer.registerTool(
    'test_tool_with_logging',
    { description: 'Tests tool that emits log messages during execution', inputSchema: {} },
    async (_args, { sendNotification }) => {
      for (const [i, data] of ['Tool execution started', 'Tool processing data', 'Tool execution completed'].entries()) {
        if (i > 0) await sleep(50);
        await sendNotification({ method: 'notifications/message', params: { level: 'info', data } });
      }
      return text('Tool with logging executed successfully');
    },
  );

  mcpServer.registerTool(
    'test_tool_with_progress',
    { description: 'Tests tool that reports progress notifications', inputSchema: {} },
    async (_args, { sendNotification, _meta }) => {
      const progressToken = _meta?.progressToken ?? 0;
      for (const [i, progress] of [0, 50, 100].entries()) {
        if (i > 0) await sleep(50);
        await sendNotification({
          method: 'notifications/progress',
          params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` },
        });
      }
      return text(String(progressToken));
    },
  );

  mcpServer.registerTool('test_error_handling', { description: 'Tests error response handling' }, async () => {
    throw new Error('This tool intentionally returns an error for testing');
  });

  // SEP-1699: closes the call's SSE stream mid-call; the result comes after the client
  // reconnects (GET with Last-Event-ID).
  mcpServer.registerTool(
    'test_reconnection',
    {
      description:
        'Tests SSE stream disconnection and client reconnection (SEP-1699). Server will close the stream mid-call and send the result after client reconnects.',
      inputSchema: {},
    },
    async (_args, { sessionId, requestId }) => {
      const transport = sessionId ? transports[sessionId] : undefined;
      if (transport && requestId) transport.closeSSEStream(requestId);
      await sleep(100);
      return text(
        'Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.',
      );
    },
  );

  mcpServer.registerTool(
    'test_sampling',
    {
      description: 'Tests server-initiated sampling (LLM completion request)',
      inputSchema: { prompt: z.string().describe('The prompt to send to the LLM') },
    },
    async (args, { sendRequest }) => {
      try {
        const result = await sendRequest(
          {
            method: 'sampling/createMessage',
            params: { messages: [{ role: 'user', content: { type: 'text', text: args.prompt } }], maxTokens: 100 },
          },
          z.object({ method: z.literal('sampling/createMessage') }).passthrough(),
        );
        const modelResponse = result.content?.text || result.message?.content?.text || 'No response';
        return text(`LLM response: ${modelResponse}`);
      } catch (error) {
        return text(`Sampling not supported or error: ${error.message}`);
      }
    },
  );

  /** An elicitation/create on the call's stream; `label` starts the answer. */
  async function elicit(sendRequest, params, label) {
    try {
      const result = await sendRequest({ method: 'elicitation/create', params }, ElicitResultSchema);
      return text(`${label}: action=${result.action}, content=${JSON.stringify(result.content || {})}`);
    } catch (error) {
      return text(`Elicitation not supported or error: ${error.message}`);
    }
  }

  mcpServer.registerTool(
    'test_elicitation',
    {
      description: 'Tests server-initiated elicitation (user input request)',
      inputSchema: { message: z.string().describe('The message to show the user') },
    },
    async (args, { sendRequest }) =>
      elicit(
        sendRequest,
        {
          message: args.message,
          requestedSchema: {
            type: 'object',
            properties: { response: { type: 'string', description: "User's response" } },
            required: ['response'],
          },
        },
        'User response',
      ),
  );

  // SEP-1034: defaults for every primitive type.
  mcpServer.registerTool(
    'test_elicitation_sep1034_defaults',
    { description: 'Tests elicitation with default values per SEP-1034', inputSchema: {} },
    async (_args, { sendRequest }) =>
      elicit(
        sendRequest,
        {
          message: 'Please review and update the form fields with defaults',
          requestedSchema: {
            type: 'object',
            properties: {
              name: { type: 'string', description: 'User name', default: 'John Doe' },
              age: { type: 'integer', description: 'User age', default: 30 },
              score: { type: 'number', description: 'User score', default: 95.5 },
              status: {
                type: 'string',
                description: 'User status',
                enum: ['active', 'inactive', 'pending'],
                default: 'active',
              },
              verified: { type: 'boolean', description: 'Verification status', default: true },
            },
            required: [],
          },
        },
        'Elicitation completed',
      ),
  );

  // SEP-1330: the five enum schema variants.
  mcpServer.registerTool(
    'test_elicitation_sep1330_enums',
    { description: 'Tests elicitation with enum schema improvements per SEP-1330', inputSchema: {} },
    async (_args, { sendRequest }) =>
      elicit(
        sendRequest,
        {
          message: 'Please select options from the enum fields',
          requestedSchema: {
            type: 'object',
            properties: {
              untitledSingle: {
                type: 'string',
                description: 'Select one option',
                enum: ['option1', 'option2', 'option3'],
              },
              titledSingle: {
                type: 'string',
                description: 'Select one option with titles',
                oneOf: [
                  { const: 'value1', title: 'First Option' },
                  { const: 'value2', title: 'Second Option' },
                  { const: 'value3', title: 'Third Option' },
                ],
              },
              legacyEnum: {
                type: 'string',
                description: 'Select one option (legacy)',
                enum: ['opt1', 'opt2', 'opt3'],
                enumNames: ['Option One', 'Option Two', 'Option Three'],
              },
              untitledMulti: {
                type: 'array',
                description: 'Select multiple options',
                minItems: 1,
                maxItems: 3,
                items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
              },
              titledMulti: {
                type: 'array',
                description: 'Select multiple options with titles',
                minItems: 1,
                maxItems: 3,
                items: {
                  anyOf: [
                    { const: 'value1', title: 'First Choice' },
                    { const: 'value2', title: 'Second Choice' },
                    { const: 'value3', title: 'Third Choice' },
                  ],
                },
              },
            },
            required: [],
          },
        },
        'Elicitation completed',
      ),
  );

  // SEP-1613: validated with a zod schema on tools/call; tools/list (below) shows the
  // raw JSON Schema 2020-12 instead.
  mcpServer.registerTool(
    'json_schema_2020_12_tool',
    {
      description: 'Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)',
      inputSchema: {
        name: z.string().optional(),
        address: z.object({ street: z.string().optional(), city: z.string().optional() }).optional(),
      },
    },
    async (a) => text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(a)}`),
  );

  // ===== RESOURCES =====
  mcpServer.registerResource(
    'static-text',
    'test://static-text',
    { title: 'Static Text Resource', description: 'A static text resource for testing', mimeType: 'text/plain' },
    async () => ({
      contents: [
        { uri: 'test://static-text', mimeType: 'text/plain', text: 'This is the content of the static text resource.' },
      ],
    }),
  );

  mcpServer.registerResource(
    'static-binary',
    'test://static-binary',
    {
      title: 'Static Binary Resource',
      description: 'A static binary resource (image) for testing',
      mimeType: 'image/png',
    },
    async () => ({ contents: [{ uri: 'test://static-binary', mimeType: 'image/png', blob: TEST_IMAGE_BASE64 }] }),
  );

  mcpServer.registerResource(
    'template',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    {
      title: 'Resource Template',
      description: 'A resource template with parameter substitution',
      mimeType: 'application/json',
    },
    async (uri, { id }) => ({
      contents: [
        {
          uri: uri.toString(),
          mimeType: 'application/json',
          text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
        },
      ],
    }),
  );

  mcpServer.registerResource(
    'watched-resource',
    'test://watched-resource',
    { title: 'Watched Resource', description: 'A resource that auto-updates every 3 seconds', mimeType: 'text/plain' },
    async () => ({
      contents: [{ uri: 'test://watched-resource', mimeType: 'text/plain', text: watchedResourceContent }],
    }),
  );

  mcpServer.server.setRequestHandler(
    z.object({ method: z.literal('resources/subscribe') }).passthrough(),
    async (request) => {
      resourceSubscriptions.add(request.params.uri);
      sendLog('info', `Subscribed to resource: ${request.params.uri}`);
      return {};
    },
  );

  mcpServer.server.setRequestHandler(
    z.object({ method: z.literal('resources/unsubscribe') }).passthrough(),
    async (request) => {
      resourceSubscriptions.delete(request.params.uri);
      sendLog('info', `Unsubscribed from resource: ${request.params.uri}`);
      return {};
    },
  );

  // ===== PROMPTS =====
  mcpServer.registerPrompt(
    'test_simple_prompt',
    { title: 'Simple Test Prompt', description: 'A simple prompt without arguments' },
    async () => ({
      messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
    }),
  );

  mcpServer.registerPrompt(
    'test_prompt_with_arguments',
    {
      title: 'Prompt With Arguments',
      description: 'A prompt with required arguments',
      argsSchema: {
        arg1: z.string().describe('First test argument'),
        arg2: z.string().describe('Second test argument'),
      },
    },
    async ({ arg1, arg2 }) => ({
      messages: [
        { role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } },
      ],
    }),
  );

  mcpServer.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      title: 'Prompt With Embedded Resource',
      description: 'A prompt that includes an embedded resource',
      argsSchema: { resourceUri: z.string().describe('URI of the resource to embed') },
    },
    async ({ resourceUri }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'resource',
            resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
          },
        },
        { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
      ],
    }),
  );

  mcpServer.registerPrompt(
    'test_prompt_with_image',
    { title: 'Prompt With Image', description: 'A prompt that includes image content' },
    async () => ({
      messages: [
        { role: 'user', content: { type: 'image', data: TEST_IMAGE_BASE64, mimeType: 'image/png' } },
        { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
      ],
    }),
  );

  // ===== LOGGING =====
  mcpServer.server.setRequestHandler(
    z.object({ method: z.literal('logging/setLevel') }).passthrough(),
    async (request) => {
      sendLog('info', `Log level set to: ${request.params.level}`);
      return {};
    },
  );

  // ===== COMPLETION =====
  // (Empty suggestions, as the reference: a real server would suggest values.)
  mcpServer.server.setRequestHandler(
    z.object({ method: z.literal('completion/complete') }).passthrough(),
    async () => ({ completion: { values: [], total: 0, hasMore: false } }),
  );

  // ===== tools/list: the raw JSON Schema 2020-12 for json_schema_2020_12_tool =====
  // registerTool converts zod schemas to JSON Schema without $schema, $defs and
  // additionalProperties; the other tools use the SDK's own conversion.
  mcpServer.server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: Object.entries(mcpServer._registeredTools)
      .filter(([, tool]) => tool.enabled)
      .map(([name, tool]) =>
        name === 'json_schema_2020_12_tool'
          ? { name, description: tool.description, inputSchema: JSON_SCHEMA_2020_12_INPUT_SCHEMA }
          : {
              name,
              title: tool.title,
              description: tool.description,
              inputSchema: tool.inputSchema
                ? toJsonSchemaCompat(tool.inputSchema, { strictUnions: true, pipeStrategy: 'input' })
                : { type: 'object', properties: {} },
              annotations: tool.annotations,
              _meta: tool._meta,
            },
      ),
  }));

  return mcpServer;
}

// ===== HTTP =====
const app = createMcpExpressApp();

const rpcError = (res, status, code, message) =>
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });

app.post('/mcp', async (req, res) => {
  const sessionId = req.headers['mcp-session-id'];
  try {
    let transport;
    if (sessionId && transports[sessionId]) {
      transport = transports[sessionId];
    } else if (!sessionId && req.body?.method === 'initialize') {
      const mcpServer = createMcpServer();
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore: createEventStore(),
        retryInterval: 5000, // SEP-1699: the `retry` of SSE streams
        onsessioninitialized: (id) => {
          transports[id] = transport;
          servers[id] = mcpServer;
        },
      });
      transport.onclose = () => {
        const id = transport.sessionId;
        if (id && transports[id]) {
          delete transports[id];
          servers[id]?.close();
          delete servers[id];
        }
      };
      await mcpServer.connect(transport);
    } else if (sessionId) {
      // Terminated or never issued: 404 (the client starts a new session).
      return rpcError(res, 404, -32001, 'Session not found');
    } else {
      return rpcError(res, 400, -32000, 'Invalid or missing session ID');
    }
    await transport.handleRequest(req, res, req.body);
  } catch (error) {
    process.stderr.write(`everything-server: POST /mcp: ${error.stack ?? error}\n`);
    if (!res.headersSent) rpcError(res, 500, -32603, 'Internal server error');
  }
});

// GET: the session's standalone SSE stream, or a resumed one (Last-Event-ID).
app.get('/mcp', async (req, res) => {
  const transport = transports[req.headers['mcp-session-id']];
  if (!transport) return res.status(400).send('Invalid or missing session ID');
  try {
    await transport.handleRequest(req, res);
  } catch (error) {
    process.stderr.write(`everything-server: GET /mcp: ${error.stack ?? error}\n`);
    if (!res.headersSent) res.status(500).send('Error establishing SSE stream');
  }
});

// DELETE: ends the session.
app.delete('/mcp', async (req, res) => {
  const sessionId = req.headers['mcp-session-id'];
  if (!sessionId) return res.status(400).send('Invalid or missing session ID');
  if (!transports[sessionId]) return res.status(404).send('Session not found');
  try {
    await transports[sessionId].handleRequest(req, res);
  } catch (error) {
    process.stderr.write(`everything-server: DELETE /mcp: ${error.stack ?? error}\n`);
    if (!res.headersSent) res.status(500).send('Error processing session termination');
  }
});

const http = app.listen(port, '127.0.0.1', () => {
  process.stdout.write(`everything server listening on http://127.0.0.1:${http.address().port}/mcp\n`);
});
http.on('error', (err) => {
  process.stderr.write(`everything-server: cannot listen on 127.0.0.1:${port}: ${err.message}\n`);
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    for (const t of Object.values(transports)) t.close().catch(() => {});
    http.close(() => process.exit(0));
    http.closeAllConnections();
  });
}
