import { index, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, tenantIdColumn, timestamptz, updatedAt } from '../../core/db/columns.ts';

/** API keys. Only the SHA-256 of a token is kept; the token itself is shown once. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    label: text('label').notNull(),
    /** The first characters of the token, shown so a key can be recognised. */
    prefix: text('prefix').notNull(),
    tokenHash: text('token_hash').notNull().unique(),
    scopes: text('scopes').array().notNull(),
    ipAllowlist: text('ip_allowlist').array().notNull().default([]),
    expiresAt: timestamptz('expires_at'),
    /** Requests per minute; null uses the plan's limit. */
    rateLimit: integer('rate_limit'),
    lastUsedAt: timestamptz('last_used_at'),
    revokedAt: timestamptz('revoked_at'),
    rotatedFrom: text('rotated_from'),
    rotatedTo: text('rotated_to'),
    createdBy: text('created_by'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('api_keys_tenant_idx').on(t.tenantId, t.id)],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;
