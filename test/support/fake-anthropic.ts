import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { words, type FakeReply, type FakeServer } from './fake-openai.ts';

/**
 * An Anthropic-compatible server speaking the Messages API wire protocol, for `@anthropic-ai/sdk`: JSON
 * answers, and streams of `message_start`, `content_block_start`, `content_block_delta` (text_delta,
 * input_json_delta), `content_block_stop`, `message_delta` (stop_reason, usage) and `message_stop`.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function lastUserText(messages: any[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.role !== 'user') continue;
    if (typeof m.content === 'string') return `You said: ${m.content}`;
    const result = m.content.find((b: any) => b.type === 'tool_result');
    if (result) return `Tool said: ${typeof result.content === 'string' ? result.content : JSON.stringify(result.content)}`;
    if (m.content.some((b: any) => b.type === 'image')) return 'A picture of a small red square.';
    const text = m.content.find((b: any) => b.type === 'text');
    return `You said: ${text?.text ?? ''}`;
  }
  return 'Hello';
}

export async function startFakeAnthropic(options: { model?: string } = {}): Promise<FakeServer> {
  const model = options.model ?? 'claude-fake-1';
  const queue: FakeReply[] = [];
  const requests: FakeServer['requests'] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', async () => {
      const body = raw ? JSON.parse(raw) : {};
      requests.push({ path: req.url ?? '', body, authorization: (req.headers['x-api-key'] as string | undefined) ?? req.headers.authorization });
      if ((req.url ?? '').startsWith('/v1/models') && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ data: [{ type: 'model', id: model, display_name: model, created_at: '2025-01-01T00:00:00Z' }], has_more: false, first_id: model, last_id: model }));
        return;
      }
      const script = queue.shift() ?? {};
      if (script.delayMs) await sleep(script.delayMs);
      if (res.destroyed) return;
      if (!(req.url ?? '').startsWith('/v1/messages')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'not found' } }));
        return;
      }
      if (script.status) {
        res.writeHead(script.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'fake failure' } }));
        return;
      }
      const text = script.text ?? lastUserText(body.messages ?? []);
      const toolCalls = script.toolCalls ?? [];
      const usage = script.usage ?? { prompt_tokens: 13, completion_tokens: 9 };
      const id = `msg_${requests.length}`;
      const stopReason = toolCalls.length ? 'tool_use' : 'end_turn';
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id,
            type: 'message',
            role: 'assistant',
            model,
            content: toolCalls.length
              ? toolCalls.map((t, i) => ({ type: 'tool_use', id: `toolu_${i + 1}`, name: t.name, input: t.arguments }))
              : [{ type: 'text', text }],
            stop_reason: stopReason,
            stop_sequence: null,
            usage: { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens },
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let sent = 0;
      const send = (type: string, data: Record<string, unknown>) => {
        if (script.breakAfter !== undefined && sent >= script.breakAfter) {
          res.destroy();
          return false;
        }
        sent++;
        res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
        return true;
      };
      if (!send('message_start', { message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: usage.prompt_tokens, output_tokens: 1 } } })) return;
      if (toolCalls.length) {
        for (const [i, t] of toolCalls.entries()) {
          if (!send('content_block_start', { index: i, content_block: { type: 'tool_use', id: `toolu_${i + 1}`, name: t.name, input: {} } })) return;
          const args = JSON.stringify(t.arguments);
          const half = Math.ceil(args.length / 2);
          for (const part of [args.slice(0, half), args.slice(half)]) {
            if (!send('content_block_delta', { index: i, delta: { type: 'input_json_delta', partial_json: part } })) return;
          }
          if (!send('content_block_stop', { index: i })) return;
        }
      } else {
        if (!send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } })) return;
        for (const w of words(text)) if (!send('content_block_delta', { index: 0, delta: { type: 'text_delta', text: w } })) return;
        if (!send('content_block_stop', { index: 0 })) return;
      }
      if (!send('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.completion_tokens } })) return;
      send('message_stop', {});
      res.end();
    });
  });
  // Providers keep idle connections far longer than Node's 5 s default (nginx 75 s); with 5 s, a loaded
  // test worker could reuse a socket the server was just closing, a race real providers do not set up.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    reply: (...replies) => queue.push(...replies),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
