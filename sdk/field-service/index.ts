import { Api } from './api.ts';

export * from './api.ts';

export interface AsteriPublicApiClientOptions {
  /** Where the server answers: its main host (the contract is at /api/public/v1) or the surface's own host. */
  baseUrl: string;
  /** The organization (tenant) id, as a UUID or `tn_...`. */
  organizationId: string;
  /** A secret API key of the organization. */
  apiKey: string;
  fetch?: typeof fetch;
}

/**
 * The field-service public API as its seed shows it being called: `client.customers.list()`. Every
 * method answers the fetch Response with `data` (the parsed body) and throws that Response on an error.
 */
export class AsteriPublicApiClient extends Api<unknown> {
  constructor(options: AsteriPublicApiClientOptions) {
    super({
      baseUrl: options.baseUrl.replace(/\/$/, ''),
      baseApiParams: { headers: { 'x-api-key': options.apiKey, 'x-organization-id': options.organizationId } },
      ...(options.fetch ? { customFetch: options.fetch } : {}),
    });
  }
}
