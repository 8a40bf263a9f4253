import { Api } from './api.ts';

export * from './api.ts';

export interface AssistantClientOptions {
  /** The surface's own host (`http://assistant.localhost:3000`, or the name SURFACE_HOSTS gives it); the API is at /api/v1 there. */
  baseUrl: string;
  /** A secret API key of the tenant (from POST /api/v1/register); leave it out to register. */
  apiKey?: string;
  fetch?: typeof fetch;
}

/**
 * The tenant AI assistant API: `client.tenants.own()`, `client.chat.history({ tenantId })`, ... Every
 * method answers the fetch Response with `data` (the parsed body) and throws that Response on an error.
 * `POST /chat` and `POST /estimator/analyze` answer Server-Sent Events: read `response.body`.
 */
export class AssistantClient extends Api<unknown> {
  constructor(options: AssistantClientOptions) {
    super({
      baseUrl: options.baseUrl.replace(/\/$/, ''),
      baseApiParams: { headers: options.apiKey ? { 'x-api-key': options.apiKey } : {} },
      ...(options.fetch ? { customFetch: options.fetch } : {}),
    });
  }
}
