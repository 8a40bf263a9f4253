import { Api } from './api.ts';

export * from './api.ts';

export interface AgentPlatformClientOptions {
  /** Where the server answers: its main host (the contract is at /api) or the surface's own host. */
  baseUrl: string;
  /** An application key (`ask_...`). */
  apiKey: string;
  /** The key's application (`app_...`). */
  appId: string;
  /** A dated version (`Appstrate-Version`); the current one when unset. */
  version?: string;
  fetch?: typeof fetch;
}

/**
 * The agent platform API as its seed shows it being called: `client.agents.list()`, `client.runs.create()`.
 * Every method answers the fetch Response with `data` (the parsed body) and throws that Response on an error.
 */
export class AgentPlatformClient extends Api<unknown> {
  constructor(options: AgentPlatformClientOptions) {
    super({
      baseUrl: options.baseUrl.replace(/\/$/, ''),
      baseApiParams: {
        headers: { authorization: `Bearer ${options.apiKey}`, 'x-app-id': options.appId, ...(options.version ? { 'appstrate-version': options.version } : {}) },
      },
      ...(options.fetch ? { customFetch: options.fetch } : {}),
    });
  }
}
