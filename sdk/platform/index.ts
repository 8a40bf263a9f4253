import { Api } from './api.ts';

export * from './api.ts';

export interface PlinthClientOptions {
  /** Where the server answers, e.g. http://localhost:3000. */
  baseUrl: string;
  /** An API key (`sk_...`, `pk_...`) or a user's access token. */
  token: string;
  fetch?: typeof fetch;
}

/** The platform API (/v1): `client.keys.keysList()`, `client.objects...`; each method answers the Response with `data` and throws it on an error. */
export class PlinthClient extends Api<unknown> {
  constructor(options: PlinthClientOptions) {
    super({
      baseUrl: options.baseUrl.replace(/\/$/, ''),
      baseApiParams: { headers: { authorization: `Bearer ${options.token}` } },
      ...(options.fetch ? { customFetch: options.fetch } : {}),
    });
  }
}
