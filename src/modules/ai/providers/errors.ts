import { APIConnectionTimeoutError as OpenAITimeout, APIError as OpenAIError, APIUserAbortError as OpenAIAbort } from 'openai';
import { ApiError } from '../../../core/http/errors.ts';
import { lazyRequire } from '../../../core/lazy.ts';
import { OutboundBlockedError, OutboundFailedError } from '../../../core/net/outbound.ts';

const anthropicSdk = lazyRequire<typeof import('@anthropic-ai/sdk')>('@anthropic-ai/sdk');
const never = class {} as unknown as new () => { status?: unknown };

/**
 * What a failed provider call becomes for the caller: 504 PROVIDER_TIMEOUT when it took too long, 502
 * PROVIDER_ERROR for everything else the provider did (5xx, refused key, broken stream, unreachable).
 * The provider's own message is not repeated (it can carry the operator's network details or the key's
 * prefix); the status it answered is.
 */
export function providerError(error: unknown, provider: string): ApiError {
  if (error instanceof ApiError) return error;
  // Anthropic's SDK loads with its first client: before that, no error can be one of its classes.
  const anthropic = anthropicSdk.ifLoaded();
  const AnthropicTimeout = anthropic?.APIConnectionTimeoutError ?? never;
  const AnthropicAbort = anthropic?.APIUserAbortError ?? never;
  const AnthropicError = anthropic?.APIError ?? never;
  if (error instanceof OpenAITimeout || error instanceof AnthropicTimeout || (error instanceof OutboundFailedError && error.reason === 'timeout')) {
    return new ApiError('PROVIDER_TIMEOUT', `The AI provider (${provider}) did not answer in time`, { cause: error });
  }
  if (error instanceof OutboundBlockedError || (error as { cause?: unknown })?.cause instanceof OutboundBlockedError) {
    const blocked = error instanceof OutboundBlockedError ? error : ((error as { cause: OutboundBlockedError }).cause);
    return new ApiError('PROVIDER_ERROR', `The AI provider's URL is refused by the outbound policy: ${blocked.message}`, { cause: error });
  }
  if (error instanceof OpenAIAbort || error instanceof AnthropicAbort) {
    return new ApiError('PROVIDER_TIMEOUT', `The call to the AI provider (${provider}) was cut off`, { cause: error });
  }
  if ((error instanceof OpenAIError || error instanceof AnthropicError) && typeof error.status === 'number') {
    return new ApiError('PROVIDER_ERROR', `The AI provider (${provider}) answered ${error.status}`, { details: { provider, status: error.status }, cause: error });
  }
  return new ApiError('PROVIDER_ERROR', `The AI provider (${provider}) could not be reached or broke off`, { details: { provider }, cause: error });
}
