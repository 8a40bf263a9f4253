import { randomBytes } from 'node:crypto';
import { and, count, desc, eq, sql } from 'drizzle-orm';
import { runInTenant, type TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { shortUrls, type ShortUrlRow } from '../tables.ts';

/**
 * Short links: one slug namespace for the install (409 when taken), http(s) targets only, optional
 * expiry and click limit. `GET /s/{slug}` answers 302 to the target and counts the click; an unknown,
 * expired or used-up link is 404.
 */

export interface ShortUrlInput {
  target_url: string;
  slug?: string;
  title?: string | null;
  expires_at?: string | null;
  max_clicks?: number | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function shortUrlDto(r: ShortUrlRow) {
  const expired = r.expiresAt !== null && r.expiresAt.getTime() <= Date.now();
  const usedUp = r.maxClicks !== null && r.clicks >= r.maxClicks;
  return {
    id: r.id,
    slug: r.slug,
    target_url: r.targetUrl,
    title: r.title,
    short_path: `/s/${r.slug}`,
    expires_at: iso(r.expiresAt),
    max_clicks: r.maxClicks,
    clicks: r.clicks,
    last_clicked_at: iso(r.lastClickedAt),
    active: !expired && !usedUp,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

const randomSlug = () => randomBytes(6).toString('base64url').replace(/[-_]/g, 'x');

const taken = (slug: string) =>
  new ApiError('ALREADY_EXISTS', `Slug '${slug}' is already taken`, { details: { issues: [{ field: 'slug', location: 'body', message: 'already taken' }] } });

const isUnique = (e: unknown) => ((e as { code?: string }).code ?? (e as { cause?: { code?: string } }).cause?.code) === '23505';

async function find(ctx: TenantContext, slug: string): Promise<ShortUrlRow> {
  const [row] = await ctx.db.select().from(shortUrls).where(and(eq(shortUrls.tenantId, ctx.tenantId), eq(shortUrls.slug, slug)));
  if (!row) throw notFound('Short URL');
  return row;
}

export async function listShortUrls(ctx: TenantContext, q: { limit: number; offset: number }) {
  const where = eq(shortUrls.tenantId, ctx.tenantId);
  const rows = await ctx.db.select().from(shortUrls).where(where).orderBy(desc(shortUrls.id)).limit(q.limit).offset(q.offset);
  const [total] = await ctx.db.select({ n: count() }).from(shortUrls).where(where);
  return { results: rows.map(shortUrlDto), total: Number(total?.n ?? 0) };
}

export async function createShortUrl(ctx: TenantContext, input: ShortUrlInput) {
  const slug = input.slug ?? randomSlug();
  // Taken by anyone (this tenant or another, which RLS hides): the unique index answers, under any race.
  try {
    const [row] = await ctx.db
      .insert(shortUrls)
      .values({
        id: newId('surl'),
        tenantId: ctx.tenantId,
        slug,
        targetUrl: input.target_url,
        title: input.title ?? null,
        expiresAt: input.expires_at ? new Date(input.expires_at) : null,
        maxClicks: input.max_clicks ?? null,
      })
      .returning();
    await ctx.emit({ type: 'short_url.created', resourceType: 'short_url', resourceId: row!.id, data: { slug, target_url: input.target_url } });
    return shortUrlDto(row!);
  } catch (error) {
    if (isUnique(error)) throw taken(slug);
    throw error;
  }
}

export async function getShortUrl(ctx: TenantContext, slug: string) {
  return shortUrlDto(await find(ctx, slug));
}

export async function updateShortUrl(ctx: TenantContext, slug: string, input: Partial<Omit<ShortUrlInput, 'slug'>>) {
  const row = await find(ctx, slug);
  const patch: Partial<typeof shortUrls.$inferInsert> = { updatedAt: new Date() };
  if (input.target_url !== undefined) patch.targetUrl = input.target_url;
  if (input.title !== undefined) patch.title = input.title;
  if (input.expires_at !== undefined) patch.expiresAt = input.expires_at ? new Date(input.expires_at) : null;
  if (input.max_clicks !== undefined) patch.maxClicks = input.max_clicks;
  const [updated] = await ctx.db.update(shortUrls).set(patch).where(and(eq(shortUrls.tenantId, ctx.tenantId), eq(shortUrls.id, row.id))).returning();
  await ctx.emit({ type: 'short_url.updated', resourceType: 'short_url', resourceId: row.id, data: { slug, changes: Object.keys(input) } });
  return shortUrlDto(updated!);
}

export async function deleteShortUrl(ctx: TenantContext, slug: string) {
  const row = await find(ctx, slug);
  await ctx.db.delete(shortUrls).where(and(eq(shortUrls.tenantId, ctx.tenantId), eq(shortUrls.id, row.id)));
  await ctx.emit({ type: 'short_url.deleted', resourceType: 'short_url', resourceId: row.id, data: { slug } });
  return { slug, deleted: true as const };
}

/**
 * The public redirect: finds the link's tenant (one indexed lookup on the owner connection), then
 * counts the click in that tenant's context with one conditional UPDATE, so a click limit holds
 * under concurrent clicks.
 */
export async function resolveShortUrl(kernel: Kernel, slug: string, hostTenant: string | null, meta: { requestId: string | null; ip?: string }): Promise<string> {
  const [hit] = await kernel.db.system.select({ tenantId: shortUrls.tenantId }).from(shortUrls).where(eq(shortUrls.slug, slug));
  // On a tenant's verified domain, only its own links.
  if (!hit || (hostTenant !== null && hit.tenantId !== hostTenant)) throw notFound('Short URL');
  const target = await runInTenant(
    kernel,
    { tenantId: hit.tenantId, actor: { type: 'public', id: null }, requestId: meta.requestId, ip: meta.ip },
    async (ctx) => {
      const [row] = await ctx.db
        .update(shortUrls)
        .set({ clicks: sql`${shortUrls.clicks} + 1`, lastClickedAt: new Date() })
        .where(
          and(
            eq(shortUrls.tenantId, hit.tenantId),
            eq(shortUrls.slug, slug),
            sql`(${shortUrls.expiresAt} is null or ${shortUrls.expiresAt} > now())`,
            sql`(${shortUrls.maxClicks} is null or ${shortUrls.clicks} < ${shortUrls.maxClicks})`,
          ),
        )
        .returning({ target: shortUrls.targetUrl });
      return row?.target ?? null;
    },
  );
  // Checked again on the way out: only http(s) is ever sent as a Location.
  if (!target || !/^https?:\/\//i.test(target)) throw notFound('Short URL');
  return target;
}
