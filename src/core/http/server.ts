import { createServer, maxHeaderSize, STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { getRequestListener, RequestError } from '@hono/node-server';
import type { Logger } from 'pino';
import { errorBody } from './envelope.ts';
import { ApiError } from './errors.ts';
import { newId } from './ids.ts';

type Fetch = (request: Request, env: { incoming: unknown; outgoing: unknown }) => Response | Promise<Response>;

/** Node's parser errors, as the error the client is told about. */
function clientErrorOf(error: NodeJS.ErrnoException): ApiError {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return new ApiError('HEADERS_TOO_LARGE', `The request line and headers exceed the server's limit of ${maxHeaderSize} bytes`);
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || error.code === 'ERR_HTTP_HEADERS_TIMEOUT') {
    return new ApiError('REQUEST_TIMEOUT', 'The request was not received in time');
  }
  return new ApiError('BAD_REQUEST', 'Malformed HTTP request (invalid characters in the request line or headers, or a broken message)');
}

/**
 * Answers an error Node's HTTP parser found before any request existed (no app, no route) in the
 * envelope every other error has, with a Request-Id, then closes the connection: after a parse error
 * the rest of the stream cannot be trusted. Node's default answer was a bare `400 Bad Request`.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex, log?: Logger): void {
  // A reset or half-closed socket has no one left to read an answer.
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const requestId = newId('req');
  const apiError = clientErrorOf(error);
  log?.info({ request_id: requestId, status: apiError.status, parser_error: error.code }, 'malformed request refused before routing');
  const body = JSON.stringify(errorBody(requestId, apiError));
  socket.end(
    [
      `HTTP/1.1 ${apiError.status} ${STATUS_CODES[apiError.status] ?? ''}`,
      'Content-Type: application/json; charset=UTF-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      `Request-Id: ${requestId}`,
      'Connection: close',
      '',
      body,
    ].join('\r\n'),
  );
}

/**
 * A request node-server could not turn into a WHATWG Request (a Host header or request target that is
 * not a URL, a backslash in the path): 400 in the envelope. Anything else escaping the app (it has its
 * own error handler, so nothing should) is a 500 without detail.
 */
function requestErrorResponse(error: unknown, log?: Logger): Response {
  const requestId = newId('req');
  const apiError =
    error instanceof RequestError
      ? new ApiError('BAD_REQUEST', `The request target or Host header is not valid: ${error.message}`)
      : new ApiError('INTERNAL_ERROR', 'Internal server error');
  if (apiError.status >= 500) log?.error({ request_id: requestId, err: error }, 'request failed outside the app');
  else log?.info({ request_id: requestId, status: apiError.status, reason: (error as Error).message }, 'malformed request refused before routing');
  return new Response(JSON.stringify(errorBody(requestId, apiError)), {
    status: apiError.status,
    headers: { 'Content-Type': 'application/json; charset=UTF-8', 'Request-Id': requestId },
  });
}

/**
 * The HTTP server of `plinth start` (and of tests that need a real socket): the app through
 * node-server, with every error below the app answered in the envelope too.
 */
export function createHttpServer(fetch: Fetch, options: { hostname?: string; log?: Logger } = {}): Server {
  const listener = getRequestListener(fetch as Parameters<typeof getRequestListener>[0], {
    hostname: options.hostname,
    errorHandler: (error) => requestErrorResponse(error, options.log),
  });
  const server = createServer(listener);
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(error, socket, options.log));
  return server;
}
