import { stringify } from 'csv-stringify/sync';
import { and, count, desc, eq, gte, sql } from 'drizzle-orm';
import { runInTenant, type RequestMeta, type TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { captchaSettings, requireCaptcha, type FlowContext } from '../../auth/index.ts';
import { createObject, loadSchema } from '../../objects/index.ts';
import { brandingDto, getBranding } from '../branding/service.ts';
import { formDaily, formSubmissions, forms, type FormRow } from '../tables.ts';

/**
 * Forms: fields mapped to the linked object type's properties. A submission creates the record
 * through the data engine (its validation rules, events and audit) and the submission row in one
 * transaction. Only `active` forms are public; a draft, an archived form or another tenant's form is 404.
 */

export interface FormField {
  property: string;
  label?: string;
  required?: boolean;
  placeholder?: string;
  help_text?: string;
}

export interface FormInput {
  name: string;
  description?: string | null;
  object_type_id: string;
  fields: FormField[];
  settings?: Record<string, unknown>;
  status?: 'draft' | 'active' | 'archived';
}

const SUBMIT_PER_MINUTE = 10;
/** Starts are cheap counters, but still public: a looser limit than submissions, per address. */
const STARTS_PER_MINUTE = 30;
const iso = (d: Date) => d.toISOString();

export function formDto(f: FormRow) {
  return {
    id: f.id,
    name: f.name,
    description: f.description,
    object_type_id: f.objectTypeId,
    fields: f.fields as unknown as FormField[],
    settings: f.settings,
    status: f.status as 'draft' | 'active' | 'archived',
    public_path: `/v1/forms/${f.id}?tenant_id=${f.tenantId}`,
    created_at: iso(f.createdAt),
    updated_at: iso(f.updatedAt),
  };
}

const invalid = (field: string, message: string) =>
  new ApiError('VALIDATION_ERROR', `${field}: ${message}`, { details: { issues: [{ field, location: 'body', message }] } });

/** Resolves the type (id or name) and checks every field names one of its properties, once. */
async function checkFields(ctx: TenantContext, typeRef: string, fields: FormField[]) {
  const schema = await loadSchema(ctx, typeRef);
  const seen = new Set<string>();
  fields.forEach((f, i) => {
    if (!schema.props.some((p) => p.name === f.property)) throw invalid(`fields.${i}.property`, `'${f.property}' is not a property of ${schema.type.name}`);
    if (seen.has(f.property)) throw invalid(`fields.${i}.property`, `'${f.property}' appears twice`);
    seen.add(f.property);
  });
  return schema;
}

async function find(ctx: TenantContext, id: string): Promise<FormRow> {
  const [row] = await ctx.db.select().from(forms).where(and(eq(forms.tenantId, ctx.tenantId), eq(forms.id, id)));
  if (!row) throw notFound('Form');
  return row;
}

export async function listForms(ctx: TenantContext, q: { limit: number; offset: number }) {
  const rows = await ctx.db.select().from(forms).where(eq(forms.tenantId, ctx.tenantId)).orderBy(desc(forms.id)).limit(q.limit).offset(q.offset);
  return rows.map(formDto);
}

export async function createForm(ctx: TenantContext, input: FormInput) {
  const schema = await checkFields(ctx, input.object_type_id, input.fields);
  const id = newId('form');
  const [row] = await ctx.db
    .insert(forms)
    .values({
      id,
      tenantId: ctx.tenantId,
      name: input.name,
      description: input.description ?? null,
      objectTypeId: schema.type.id,
      fields: input.fields as unknown as Record<string, unknown>[],
      settings: input.settings ?? {},
      status: input.status ?? 'draft',
    })
    .returning();
  await ctx.emit({ type: 'form.created', resourceType: 'form', resourceId: id, data: { form_id: id, name: input.name, object_type_id: schema.type.id } });
  return formDto(row!);
}

export async function updateForm(ctx: TenantContext, id: string, input: Partial<Omit<FormInput, 'object_type_id'>>) {
  const f = await find(ctx, id);
  const patch: Partial<typeof forms.$inferInsert> = { updatedAt: new Date() };
  if (input.name !== undefined) patch.name = input.name;
  if (input.description !== undefined) patch.description = input.description;
  if (input.settings !== undefined) patch.settings = input.settings;
  if (input.status !== undefined) patch.status = input.status;
  if (input.fields !== undefined) {
    await checkFields(ctx, f.objectTypeId, input.fields);
    patch.fields = input.fields as unknown as Record<string, unknown>[];
  }
  const [row] = await ctx.db.update(forms).set(patch).where(and(eq(forms.tenantId, ctx.tenantId), eq(forms.id, id))).returning();
  await ctx.emit({ type: 'form.updated', resourceType: 'form', resourceId: id, data: { form_id: id, changes: Object.keys(input) } });
  return formDto(row!);
}

export async function deleteForm(ctx: TenantContext, id: string) {
  await find(ctx, id);
  await ctx.db.delete(forms).where(and(eq(forms.tenantId, ctx.tenantId), eq(forms.id, id)));
  await ctx.emit({ type: 'form.deleted', resourceType: 'form', resourceId: id, data: { form_id: id } });
  return { id, deleted: true as const };
}

export async function duplicateForm(ctx: TenantContext, id: string) {
  const f = await find(ctx, id);
  return createForm(ctx, {
    name: `${f.name} (copy)`.slice(0, 200),
    description: f.description,
    object_type_id: f.objectTypeId,
    fields: f.fields as unknown as FormField[],
    settings: f.settings,
    status: 'draft',
  });
}

function submissionDto(s: typeof formSubmissions.$inferSelect) {
  return { id: s.id, form_id: s.formId, object_id: s.objectId, data: s.data, created_at: iso(s.createdAt) };
}

export async function listSubmissions(ctx: TenantContext, id: string, q: { limit: number; offset: number }) {
  await find(ctx, id);
  const where = and(eq(formSubmissions.tenantId, ctx.tenantId), eq(formSubmissions.formId, id));
  const rows = await ctx.db.select().from(formSubmissions).where(where).orderBy(desc(formSubmissions.id)).limit(q.limit).offset(q.offset);
  const [total] = await ctx.db.select({ n: count() }).from(formSubmissions).where(where);
  return { submissions: rows.map(submissionDto), total: Number(total?.n ?? 0) };
}

export const EXPORT_MAX = 100_000;

export async function exportSubmissions(ctx: TenantContext, id: string, format: 'csv' | 'json') {
  const f = await find(ctx, id);
  const rows = await ctx.db
    .select()
    .from(formSubmissions)
    .where(and(eq(formSubmissions.tenantId, ctx.tenantId), eq(formSubmissions.formId, id)))
    .orderBy(formSubmissions.id)
    .limit(EXPORT_MAX);
  const fields = (f.fields as unknown as FormField[]).map((x) => x.property);
  const table = rows.map((s) => ({ submission_id: s.id, object_id: s.objectId, submitted_at: iso(s.createdAt), ...Object.fromEntries(fields.map((p) => [p, s.data[p] ?? null])) }));
  const base = f.name.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 60) || 'form';
  if (format === 'json') return { format, filename: `${base}.json`, content_type: 'application/json', count: table.length, content: JSON.stringify(table) };
  const content = stringify(
    table.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v !== null && typeof v === 'object' ? JSON.stringify(v) : v]))),
    { header: true, columns: ['submission_id', 'object_id', 'submitted_at', ...fields], cast: { boolean: (b) => String(b) } },
  );
  return { format, filename: `${base}.csv`, content_type: 'text/csv', count: table.length, content };
}

export async function formAnalytics(ctx: TenantContext, id: string, days = 30) {
  await find(ctx, id);
  const since = new Date(Date.now() - (days - 1) * 86_400_000).toISOString().slice(0, 10);
  const rows = await ctx.db
    .select()
    .from(formDaily)
    .where(and(eq(formDaily.tenantId, ctx.tenantId), eq(formDaily.formId, id), gte(formDaily.day, since)))
    .orderBy(formDaily.day);
  const totals = rows.reduce((t, r) => ({ views: t.views + r.views, starts: t.starts + r.starts, submissions: t.submissions + r.submissions }), { views: 0, starts: 0, submissions: 0 });
  return {
    form_id: id,
    days,
    totals: { ...totals, conversion_rate: totals.views ? Math.round((totals.submissions / totals.views) * 10_000) / 10_000 : null },
    daily: rows.map((r) => ({ day: r.day, views: r.views, starts: r.starts, submissions: r.submissions })),
  };
}

async function bump(ctx: TenantContext, formId: string, column: 'views' | 'starts' | 'submissions') {
  const day = new Date().toISOString().slice(0, 10);
  const col = sql.raw(column);
  await ctx.db.execute(sql`insert into form_daily (tenant_id, form_id, day, ${col}) values (${ctx.tenantId}, ${formId}, ${day}, 1)
    on conflict (tenant_id, form_id, day) do update set ${col} = form_daily.${col} + 1`);
}

// ---------------------------------------------------------------- public

/** The tenant of a public form: it must be the one the caller named, and the form active. */
async function publicForm(kernel: Kernel, formId: string, tenantId: string | null): Promise<{ tenantId: string }> {
  if (!/^form_[0-9a-z]{26}$/.test(formId) || (tenantId !== null && !/^tn_[0-9a-z]{26}$/.test(tenantId))) throw notFound('Form');
  // Finding a form's tenant is one indexed lookup on the owner connection; the rest runs as that tenant.
  const [hit] = await kernel.db.system.select({ tenantId: forms.tenantId, status: forms.status }).from(forms).where(eq(forms.id, formId));
  if (!hit || hit.status !== 'active' || (tenantId !== null && hit.tenantId !== tenantId)) throw notFound('Form');
  return { tenantId: hit.tenantId };
}

const publicMeta = (tenantId: string, formId: string, meta: { requestId: string | null; ip?: string; userAgent?: string }): RequestMeta => ({
  tenantId,
  actor: { type: 'form', id: formId },
  requestId: meta.requestId,
  ip: meta.ip,
  userAgent: meta.userAgent,
});

/**
 * `tenantId` from the query, `hostTenant` from a verified custom domain the request was sent to: one
 * of them names the tenant, and when both do they must agree.
 */
export async function getPublicForm(kernel: Kernel, formId: string, tenantId: string | undefined, hostTenant: string | null, meta: { requestId: string | null; ip?: string; userAgent?: string }) {
  if (!tenantId && !hostTenant) {
    throw new ApiError('VALIDATION_ERROR', 'tenant_id: required unless the request is sent to the tenant\'s verified custom domain', {
      details: { issues: [{ field: 'tenant_id', location: 'query', message: 'required' }] },
    });
  }
  if (tenantId && hostTenant && tenantId !== hostTenant) throw notFound('Form');
  const hit = await publicForm(kernel, formId, hostTenant ?? tenantId!);
  return runInTenant(kernel, publicMeta(hit.tenantId, formId, meta), async (ctx) => {
    const f = await find(ctx, formId);
    if (f.status !== 'active') throw notFound('Form');
    await bump(ctx, formId, 'views');
    const captcha = await captchaSettings(ctx);
    const b = await getBranding(ctx);
    return {
      form_id: f.id,
      name: f.name,
      description: f.description,
      object_type_id: f.objectTypeId,
      fields: f.fields as unknown as FormField[],
      settings: f.settings,
      branding: { brand_name: b.brand_name, logo_url: b.logo_url, favicon_url: b.favicon_url, primary_color: b.primary_color, footer_text: b.footer_text, custom_css: b.custom_css },
      require_captcha: captcha !== null,
      ...(captcha ? { captcha_site_key: (captcha as { site_key?: string }).site_key ?? null } : {}),
    };
  });
}

/** Counts a start: the form's page calls it when a visitor first fills a field, so analytics can tell viewers from starters. */
export async function startPublicForm(kernel: Kernel, formId: string, hostTenant: string | null, meta: { requestId: string | null; ip?: string; userAgent?: string }) {
  const ip = meta.ip ?? 'unknown';
  await kernel.rateLimits.enforce(`form-start:${ip}`, STARTS_PER_MINUTE, (wait) => `At most ${STARTS_PER_MINUTE} form starts per minute from one address; retry in ${wait} s`);
  const hit = await publicForm(kernel, formId, hostTenant);
  return runInTenant(kernel, publicMeta(hit.tenantId, formId, meta), async (ctx) => {
    await bump(ctx, formId, 'starts');
    return { started: true as const };
  });
}

export async function submitPublicForm(
  kernel: Kernel,
  formId: string,
  hostTenant: string | null,
  body: { data: Record<string, unknown>; turnstile_token?: string },
  meta: { requestId: string | null; ip?: string; userAgent?: string },
) {
  const ip = meta.ip ?? 'unknown';
  await kernel.rateLimits.enforce(`form-submit:${ip}`, SUBMIT_PER_MINUTE, (wait) => `At most ${SUBMIT_PER_MINUTE} form submissions per minute from one address; retry in ${wait} s`);
  const hit = await publicForm(kernel, formId, hostTenant);
  const work: FlowContext['work'] = (fn) => runInTenant(kernel, publicMeta(hit.tenantId, formId, meta), fn, { readOnly: true });
  // The tenant's captcha setting (auth config) applies to its public forms as to its sign-ups.
  await requireCaptcha({ kernel, work, tenantId: hit.tenantId, ip } as FlowContext, body.turnstile_token);
  return runInTenant(kernel, publicMeta(hit.tenantId, formId, meta), async (ctx) => {
    const f = await find(ctx, formId);
    if (f.status !== 'active') throw notFound('Form');
    const fields = f.fields as unknown as FormField[];
    const allowed = new Set(fields.map((x) => x.property));
    const issues: { field: string; location: string; message: string }[] = [];
    for (const key of Object.keys(body.data)) if (!allowed.has(key)) issues.push({ field: `data.${key}`, location: 'body', message: 'not a field of this form' });
    for (const x of fields) {
      const v = body.data[x.property];
      if (x.required && (v === undefined || v === null || v === '')) issues.push({ field: `data.${x.property}`, location: 'body', message: 'required' });
    }
    if (issues.length) throw new ApiError('VALIDATION_ERROR', `${issues[0]!.field}: ${issues[0]!.message}`, { details: { issues } });
    let record: { id: string };
    try {
      record = await createObject(ctx, f.objectTypeId, { properties: body.data });
    } catch (error) {
      // The property's own rules refused a value: the same 400, named under `data`.
      if (error instanceof ApiError && error.code === 'VALIDATION_ERROR') throw new ApiError('VALIDATION_ERROR', error.message.replace(/^(body\.)?(properties\.)?/, 'data.'), { details: error.details });
      throw error;
    }
    const id = newId('fsub');
    await ctx.db.insert(formSubmissions).values({ id, tenantId: ctx.tenantId, formId, objectId: record.id, data: body.data, ip: meta.ip ?? null, userAgent: meta.userAgent ?? null });
    await bump(ctx, formId, 'submissions');
    await ctx.emit({ type: 'form.submitted', resourceType: 'form', resourceId: formId, data: { form_id: formId, submission_id: id, object_id: record.id } });
    return { submitted: true as const, object_id: record.id, submission_id: id };
  });
}

export { brandingDto };
