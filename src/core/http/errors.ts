import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * The closed set of error codes every contract answers with, and the one map from code to status.
 * Add a code here (never a bare status elsewhere) when a module needs a new kind of failure.
 */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  INSUFFICIENT_SCOPE: 403,
  IP_NOT_ALLOWED: 403,
  TENANT_SUSPENDED: 403,
  STORAGE_QUOTA_EXCEEDED: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  CONFLICT: 409,
  ALREADY_EXISTS: 409,
  DEPENDENCY_EXISTS: 409,
  IDEMPOTENCY_IN_PROGRESS: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RANGE_NOT_SATISFIABLE: 416,
  IDEMPOTENCY_KEY_REUSED: 422,
  UNPROCESSABLE: 422,
  UPGRADE_REQUIRED: 426,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  /** The month's AI token quota of the tenant's plan is used up (`ai_tokens_per_month`). */
  AI_QUOTA_EXCEEDED: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL_ERROR: 500,
  NOT_IMPLEMENTED: 501,
  /** An upstream provider (AI) failed: it answered an error, broke off, or could not be reached. */
  PROVIDER_ERROR: 502,
  SERVICE_UNAVAILABLE: 503,
  /** An upstream provider (AI) did not answer in time. */
  PROVIDER_TIMEOUT: 504,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

export interface ApiErrorOptions {
  details?: unknown;
  /** Extra members placed on the error object itself (the seed puts `dependencies` and `confirm_token` there). */
  extra?: Record<string, unknown>;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: ContentfulStatusCode;
  readonly details?: unknown;
  readonly extra?: Record<string, unknown>;
  readonly headers?: Record<string, string>;

  constructor(code: ErrorCode, message: string, options: ApiErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'ApiError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = options.details;
    this.extra = options.extra;
    this.headers = options.headers;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.details === undefined ? {} : { details: this.details }),
      ...this.extra,
    };
  }
}

export const notFound = (what: string) => new ApiError('NOT_FOUND', `${what} not found`);

/**
 * A body field names a record (by id or name) that this tenant does not have: 404 naming the field,
 * as a path id would. Another tenant's record and no record answer alike. `field` is the body path
 * (`object_types.2`, `stages.0.approver_user_ids.1`).
 */
export function referenceNotFound(field: string, message: string): ApiError {
  return new ApiError('NOT_FOUND', `body.${field}: ${message}`, {
    details: { field, issues: [{ field, location: 'body', code: 'not_found', message }] },
  });
}
