import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ZodError } from 'zod';
import { ApiError, ERROR_CODES } from './errors.ts';

export const ErrorSchema = z
  .object({
    success: z.literal(false),
    error: z
      .object({
        code: z.enum(ERROR_CODES),
        message: z.string(),
        details: z.unknown().optional(),
      })
      .catchall(z.unknown()),
    request_id: z.string(),
  })
  .openapi('Error', { description: 'Every error: a code from the closed set, a message, and details where useful.' });

/** The success envelope of the /v1 contract around `data`. */
export function envelope<T extends z.ZodType>(data: T) {
  return z.object({ success: z.literal(true), data, request_id: z.string() });
}

export function ok<T>(c: Context, data: T) {
  return { success: true as const, data, request_id: c.get('requestId') as string };
}

export function errorBody(requestId: string, error: ApiError) {
  return { success: false as const, error: error.toJSON(), request_id: requestId };
}

const TARGET_NAMES: Record<string, string> = { json: 'body', form: 'body', query: 'query', param: 'path', header: 'header', cookie: 'cookie' };

/** A zod failure in the shape of every other error, naming the field in message and details. */
export function validationError(target: string, error: ZodError): ApiError {
  const location = TARGET_NAMES[target] ?? target;
  const issues = error.issues.flatMap((issue): { field: string; location: string; code: string; message: string }[] =>
    // A strict object's extra keys are one issue at the object; each key is the field at fault.
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ field: [...issue.path, key].join('.'), location, code: issue.code, message: 'unknown field; it is not part of this contract' }))
      : [{ field: issue.path.length ? issue.path.join('.') : location, location, code: issue.code, message: issue.message }],
  );
  const first = issues[0];
  const message = first
    ? `${first.field === location ? location : `${location}.${first.field}`}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`
    : 'Invalid request';
  return new ApiError('VALIDATION_ERROR', message, { details: { issues } });
}

/** A required JSON request body for createRoute. */
export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({
  content: { 'application/json': { schema } },
  required,
});

/** A success response for createRoute, wrapped in the envelope. */
export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema: envelope(schema) } },
});

/** An ISO 8601 timestamp in a response. */
export const IsoDate = z.string().openapi({ format: 'date-time', example: '2026-01-01T00:00:00.000Z' });

/** A nullable timestamp as responses carry it. */
export const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null);
