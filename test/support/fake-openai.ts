import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OpenAI-compatible server speaking the real wire protocol, for the `openai` SDK to talk to through
 * Plinth: chat completions (JSON, and streaming `data:` chunks ending in `data: [DONE]`, with tool-call
 * deltas and a usage chunk), embeddings, moderations and the model list. Tests script the next answers with `reply()`;
 * without a script the answer echoes the last user message (or the last tool result).
 */
export interface FakeReply {
  text?: string;
  toolCalls?: { name: string; arguments: Record<string, unknown> }[];
  /** Answer this status with an error body instead. */
  status?: number;
  /** Wait this long before answering (a timeout test). */
  delayMs?: number;
  /** Wait this long between streamed chunks. */
  chunkDelayMs?: number;
  /** Stream this many chunks, then break the connection. */
  breakAfter?: number;
  usage?: { prompt_tokens: number; completion_tokens: number };
}

export interface FakeServer {
  url: string;
  /** Requests received, in order: path and parsed body (with the Authorization header). */
  requests: { path: string; body: any; authorization?: string }[];
  reply(...replies: FakeReply[]): void;
  close(): Promise<void>;
}

export function words(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [text];
}

function lastUserText(messages: any[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.role === 'tool') return `Tool said: ${m.content}`;
    if (m.role === 'user') return `You said: ${typeof m.content === 'string' ? m.content : JSON.stringify(m.content)}`;
  }
  return 'Hello';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startFakeOpenAI(options: { model?: string; port?: number } = {}): Promise<FakeServer> {
  const model = options.model ?? 'gpt-fake-1';
  const queue: FakeReply[] = [];
  const requests: FakeServer['requests'] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', async () => {
      const body = raw ? JSON.parse(raw) : {};
      requests.push({ path: req.url ?? '', body, authorization: req.headers.authorization });
      const path = (req.url ?? '').replace(/\?.*$/, '');
      const script = path.endsWith('/chat/completions') ? (queue.shift() ?? {}) : {};
      if (script.delayMs) await sleep(script.delayMs);
      if (res.destroyed) return;
      if (script.status) {
        res.writeHead(script.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'fake failure', type: 'server_error', code: null } }));
        return;
      }
      if (path.endsWith('/embeddings')) {
        const inputs: string[] = Array.isArray(body.input) ? body.input : [body.input];
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            object: 'list',
            model: body.model,
            // The SDK asks for base64 (little-endian float32) unless the caller names a format.
            data: inputs.map((text, index) => {
              const vector = [text.length, 1, 0, 0.5];
              const embedding = body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
              return { object: 'embedding', index, embedding };
            }),
            usage: { prompt_tokens: inputs.length * 3, total_tokens: inputs.length * 3 },
          }),
        );
        return;
      }
      if (path.endsWith('/moderations')) {
        const inputs: string[] = Array.isArray(body.input) ? body.input : [body.input];
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'modr-1',
            model: body.model ?? 'omni-moderation-latest',
            results: inputs.map((t) => ({ flagged: t.includes('hate'), categories: { hate: t.includes('hate') }, category_scores: { hate: t.includes('hate') ? 0.9 : 0.01 } })),
          }),
        );
        return;
      }
      if (path.endsWith('/models') && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: model, object: 'model', created: 1700000000, owned_by: 'fake' }] }));
        return;
      }
      if (!path.endsWith('/chat/completions')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'not found' } }));
        return;
      }
      const hasImage = (body.messages ?? []).some((m: any) => Array.isArray(m.content) && m.content.some((p: any) => p.type === 'image_url'));
      const text = script.text ?? (hasImage ? 'A picture of a small red square.' : lastUserText(body.messages ?? []));
      const toolCalls = script.toolCalls ?? [];
      const usage = script.usage ?? { prompt_tokens: 11, completion_tokens: 7 };
      const id = `chatcmpl-${requests.length}`;
      const created = Math.floor(Date.now() / 1000);
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id,
            object: 'chat.completion',
            created,
            model,
            choices: [
              {
                index: 0,
                message: {
                  role: 'assistant',
                  content: toolCalls.length ? null : text,
                  ...(toolCalls.length
                    ? { tool_calls: toolCalls.map((t, i) => ({ id: `call_${i + 1}`, type: 'function', function: { name: t.name, arguments: JSON.stringify(t.arguments) } })) }
                    : {}),
                },
                finish_reason: toolCalls.length ? 'tool_calls' : 'stop',
              },
            ],
            usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`;
      let sent = 0;
      const send = (s: string) => {
        if (script.breakAfter !== undefined && sent >= script.breakAfter) {
          res.destroy();
          return false;
        }
        sent++;
        res.write(s);
        return true;
      };
      if (!send(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]))) return;
      if (toolCalls.length) {
        for (const [i, t] of toolCalls.entries()) {
          if (!send(chunk([{ index: 0, delta: { tool_calls: [{ index: i, id: `call_${i + 1}`, type: 'function', function: { name: t.name, arguments: '' } }] }, finish_reason: null }]))) return;
          const args = JSON.stringify(t.arguments);
          const half = Math.ceil(args.length / 2);
          for (const part of [args.slice(0, half), args.slice(half)]) {
            if (!send(chunk([{ index: 0, delta: { tool_calls: [{ index: i, function: { arguments: part } }] }, finish_reason: null }]))) return;
          }
        }
        if (!send(chunk([{ index: 0, delta: {}, finish_reason: 'tool_calls' }]))) return;
      } else {
        for (const w of words(text)) {
          if (script.chunkDelayMs) await sleep(script.chunkDelayMs);
          if (res.destroyed) return;
          if (!send(chunk([{ index: 0, delta: { content: w }, finish_reason: null }]))) return;
        }
        if (!send(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]))) return;
      }
      if (body.stream_options?.include_usage) {
        if (!send(chunk([], { usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } }))) return;
      }
      res.end('data: [DONE]\n\n');
    });
  });
  // Providers keep idle connections far longer than Node's 5 s default (nginx 75 s); with 5 s, a loaded
  // test worker could reuse a socket the server was just closing, a race real providers do not set up.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    reply: (...replies) => queue.push(...replies),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
