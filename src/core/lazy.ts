import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A package loaded on first use instead of at start. About 0.9 s of the app's 2.8 s import (paid by
 * every `plinth start` and every test file) went to packages only some requests need:
 * Stripe, ExcelJS, sharp, the WebAuthn and SAML libraries, the Anthropic SDK, the local embedding
 * model and the tokenizer. Loaded through require (each has a CommonJS build), so the first use stays
 * synchronous; every import of such a package goes through here, so no second copy is loaded as ESM.
 */
export function lazyRequire<T>(id: string): Lazy<T> {
  let loaded: T | undefined;
  const get = (() => (loaded ??= require(id) as T)) as Lazy<T>;
  get.ifLoaded = () => loaded ?? (require.cache[require.resolve(id)]?.exports as T | undefined);
  return get;
}

export interface Lazy<T> {
  (): T;
  /** The package if something has loaded it already (an error can only be one of its classes then). */
  ifLoaded(): T | undefined;
}
