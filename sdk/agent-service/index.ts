import { Api } from './api.ts';

export * from './api.ts';

export interface AgentServiceClientOptions {
  /** The server (`http://localhost:3000`: the API is at /api/v1 on the main host) or the surface's own host. */
  baseUrl: string;
  /** An access token (POST /api/v1/auth/token) or a service-account token; leave it out to sign in. */
  token?: string;
  fetch?: typeof fetch;
}

/**
 * The agent service API: `client.auth.*`, `client.chat.*`, `client.workflows.*`, `client.billing.*`, ... Every
 * method answers the fetch Response with `data` (the parsed body) and throws that Response on an error.
 * `chat/stream`, `run-stream` and `billing/stream` answer Server-Sent Events: read `response.body`.
 */
export class AgentServiceClient extends Api<unknown> {
  constructor(options: AgentServiceClientOptions) {
    super({
      baseUrl: options.baseUrl.replace(/\/$/, ''),
      baseApiParams: { headers: options.token ? { authorization: `Bearer ${options.token}` } : {} },
      ...(options.fetch ? { customFetch: options.fetch } : {}),
    });
  }
}
