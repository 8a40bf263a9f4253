// Requests generated from the served OpenAPI document: valid samples of each operation's schemas, and the
// same samples broken in the ways clients and attackers break them.
import fc from 'fast-check';

type Schema = Record<string, any>;
type Spec = { components?: { schemas?: Record<string, Schema> } } & Record<string, any>;

export interface FuzzRequest {
  /** What was broken, for the failure report. */
  mutation: string;
  method: string;
  /** Path and query, already encoded. */
  url: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

export interface Operation {
  method: string;
  path: string;
  op: Schema;
}

const MAX_DEPTH = 5;

/** Values that have broken servers: dot segments, NUL, invalid escapes, injections, size. */
export const HOSTILE_SEGMENTS = [
  '..', '.', '%2e%2e', '%2E%2e', '%2e', '.%2e', '%00', '%ff', '%', '%zz', '%2F', '%5C', '..%2F..%2Fetc%2Fpasswd',
  "'%20OR%201%3D1--", '%3Cscript%3E', '%F0%9F%92%A9', '%C0%AE', 'a'.repeat(4096), '0', '-1', '1e309', 'null',
  'undefined', '__proto__', 'constructor', '%20', '%09', 'tn_00000000000000000000000000',
];

export const HOSTILE_VALUES: unknown[] = [
  null, true, false, 0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.1, '', ' ', '\u0000', 'a\u0000b', '\uD800', '\uFFFF',
  'x'.repeat(70_000), '../../etc/passwd', "' OR 1=1 --", '<script>alert(1)</script>', '{{7*7}}', '${7*7}',
  '1970-01-01T00:00:00Z', '9999-12-31T23:59:59Z', 'not-a-date', [], [null], {}, { __proto__: { polluted: true } },
  { constructor: { prototype: { polluted: true } } }, Array.from({ length: 1000 }, (_, i) => i),
];

/** Nested `depth` levels deep as raw JSON text (JSON.stringify would overflow building it). */
export const deepJson = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
export const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

export class SchemaArbitraries {
  constructor(private readonly spec: Spec) {}

  resolve(schema: Schema | undefined): Schema {
    let s = schema ?? {};
    for (let i = 0; s.$ref && i < 10; i++) s = this.spec.components?.schemas?.[s.$ref.split('/').pop()] ?? {};
    return s;
  }

  /** A value the schema admits (best effort: formats and patterns are sampled, not proven). */
  valid(schema: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
    const s = this.resolve(schema);
    if (depth > MAX_DEPTH) return fc.constant(null);
    if ('const' in s) return fc.constant(s.const);
    if (Array.isArray(s.enum) && s.enum.length) return fc.constantFrom(...s.enum);
    const alternatives = s.oneOf ?? s.anyOf;
    if (Array.isArray(alternatives) && alternatives.length) return fc.oneof(...alternatives.map((a: Schema) => this.valid(a, depth + 1)));
    if (Array.isArray(s.allOf) && s.allOf.length) {
      const merged = s.allOf.map((a: Schema) => this.resolve(a)).reduce((acc: Schema, a: Schema) => ({
        ...acc, ...a, properties: { ...acc.properties, ...a.properties }, required: [...(acc.required ?? []), ...(a.required ?? [])],
      }), {});
      return this.valid(merged, depth + 1);
    }
    if (Array.isArray(s.type)) return fc.oneof(...s.type.map((type: string) => this.valid({ ...s, type }, depth)));
    switch (s.type) {
      case 'string': return this.string(s);
      case 'integer': return fc.integer({ min: Math.ceil(s.minimum ?? s.exclusiveMinimum ?? -1000), max: Math.floor(s.maximum ?? s.exclusiveMaximum ?? 100_000) });
      case 'number': return fc.double({ min: s.minimum ?? -1e6, max: s.maximum ?? 1e6, noNaN: true, noDefaultInfinity: true });
      case 'boolean': return fc.boolean();
      case 'null': return fc.constant(null);
      case 'array': {
        const max = Math.min(s.maxItems ?? 3, Math.max(s.minItems ?? 0, 3));
        return fc.array(this.valid(s.items, depth + 1), { minLength: Math.min(s.minItems ?? 0, max), maxLength: max });
      }
      case 'object': return this.object(s, depth);
      default:
        if (s.properties) return this.object(s, depth);
        return fc.jsonValue({ maxDepth: 2 });
    }
  }

  private string(s: Schema): fc.Arbitrary<unknown> {
    const min = s.minLength ?? 0;
    const max = Math.max(min, Math.min(s.maxLength ?? 24, min + 24));
    if (s.format === 'date-time') return fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
    if (s.format === 'date') return fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));
    if (s.format === 'email') return fc.emailAddress().filter((e) => e.length <= (s.maxLength ?? 254));
    if (s.format === 'uri' || s.format === 'url') return fc.constantFrom('https://example.com/', 'https://hooks.example.org/in?x=1', 'http://127.0.0.1:1/', 'ftp://example.com/');
    if (s.format === 'uuid') return fc.uuid();
    if (s.format === 'binary') return fc.string({ maxLength: 64 });
    if (typeof s.pattern === 'string') {
      try {
        return fc.stringMatching(new RegExp(s.pattern)).filter((v) => v.length >= min && v.length <= (s.maxLength ?? 10_000));
      } catch {
        // a pattern JavaScript cannot compile is sampled as a plain string
      }
    }
    return fc.string({ minLength: min, maxLength: max, unit: 'grapheme' });
  }

  private object(s: Schema, depth: number): fc.Arbitrary<unknown> {
    const properties: Record<string, Schema> = s.properties ?? {};
    const names = Object.keys(properties);
    if (!names.length && s.additionalProperties && typeof s.additionalProperties === 'object') {
      return fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), this.valid(s.additionalProperties, depth + 1), { maxKeys: 3 });
    }
    const model = Object.fromEntries(names.map((name) => [name, this.valid(properties[name], depth + 1)]));
    return fc.record(model, { requiredKeys: (s.required ?? []).filter((r: string) => names.includes(r)) });
  }
}

const hostileValue = fc.constantFrom(...HOSTILE_VALUES);

/** encodeURIComponent throws on a lone surrogate; a client sends its WTF-8 bytes, which we want to see. */
const enc = (value: string) => {
  try {
    return encodeURIComponent(value);
  } catch {
    return encodeURIComponent(value.replace(/[\uD800-\uDFFF]/g, 'x')) + '%ED%A0%80';
  }
};

/** The arbitrary of one operation's requests: a valid sample, then zero or more ways of breaking it. */
export function requestsFor(
  arbs: SchemaArbitraries,
  { method, path, op }: Operation,
  tokens: { tenant: string; admin: string; user: string },
  /** Ids of records that exist, by path parameter name, so that requests reach past the lookup. */
  existing: Record<string, string[]> = {},
  /** A contract surface's credentials (its own headers) in place of the platform's bearer tokens: the valid caller and the broken variants. */
  surfaceAuth?: { caller: Record<string, string>; variants: [string, Record<string, string>][] },
): fc.Arbitrary<FuzzRequest> {
  const params: Schema[] = (op.parameters ?? []).map((p: Schema) => arbs.resolve(p));
  const pathParams = params.filter((p) => p.in === 'path');
  const queryParams = params.filter((p) => p.in === 'query');
  const bodyTypes = Object.keys(op.requestBody?.content ?? {});
  const jsonBody = op.requestBody?.content?.['application/json']?.schema;

  const pathValue = (p: Schema) => fc.oneof(
    { weight: existing[p.name]?.length ? 6 : 0, arbitrary: fc.constantFrom(...(existing[p.name] ?? ['unused'])) },
    { weight: 4, arbitrary: arbs.valid(p.schema).map((v) => enc(String(v))) },
    { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_SEGMENTS) },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 40 }).map(enc) },
  );
  const validPathValue = (p: Schema) => (existing[p.name]?.length ? fc.constantFrom(...existing[p.name]!) : arbs.valid(p.schema).map((v) => enc(String(v))));
  const pathFrom = (value: (p: Schema) => fc.Arbitrary<string>) => fc.tuple(...pathParams.map(value)).map((values) =>
    pathParams.reduce((acc, p, i) => acc.replace(`{${p.name}}`, values[i]!), path));
  const pathArb = pathFrom(pathValue);

  const queryArb = fc.tuple(
    fc.tuple(...queryParams.map((p) => fc.option(fc.oneof(
      { weight: 6, arbitrary: arbs.valid(p.schema).map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))) },
      { weight: 2, arbitrary: hostileValue.map((v) => (typeof v === 'string' ? v : JSON.stringify(v) ?? '')) },
      { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
    ), { freq: 2 }))),
    fc.option(fc.constantFrom('unknown_param=1', 'limit=-1&limit=5', 'cursor=%00', 'offset=1e400', 'sort=%27', 'filter=%7B%7D%7D'), { freq: 2 }),
  ).map(([values, extra]) => {
    const parts = queryParams.flatMap((p, i) => (values[i] === null ? [] : [`${enc(p.name)}=${enc(values[i]!)}`]));
    if (extra) parts.push(extra);
    return parts.length ? `?${parts.join('&')}` : '';
  });

  const authArb = surfaceAuth
    ? fc.constantFrom<[string, Record<string, string>]>(['valid caller', surfaceAuth.caller], ['valid caller', surfaceAuth.caller], ['valid caller', surfaceAuth.caller], ...surfaceAuth.variants)
    : fc.constantFrom<[string, Record<string, string>]>(
    ['tenant key', { authorization: `Bearer ${tokens.tenant}` }],
    ['tenant key', { authorization: `Bearer ${tokens.tenant}` }],
    ['tenant key', { authorization: `Bearer ${tokens.tenant}` }],
    ['tenant key', { authorization: `Bearer ${tokens.tenant}` }],
    ['tenant key', { authorization: `Bearer ${tokens.tenant}` }],
    ['tenant key', { authorization: `Bearer ${tokens.tenant}` }],
    ['admin key', { authorization: `Bearer ${tokens.admin}` }],
    ['user token', { authorization: `Bearer ${tokens.user}` }],
    ['no credentials', {}],
    ['garbage token', { authorization: 'Bearer sk_live_garbage' }],
    ['malformed authorization', { authorization: 'Basic Zm9vOmJhcg==' }],
  );

  const bodyArb: fc.Arbitrary<{ mutation: string; body?: string | Uint8Array; contentType?: string }> = (() => {
    if (!bodyTypes.length) {
      return fc.oneof(
        { weight: 8, arbitrary: fc.constant({ mutation: 'no body' }) },
        { weight: 1, arbitrary: fc.constant({ mutation: 'unexpected JSON body', body: '{"x":1}', contentType: 'application/json' }) },
      );
    }
    if (jsonBody) return jsonBodies(arbs, jsonBody);
    if (bodyTypes.includes('multipart/form-data')) return multipartBodies(arbs, op.requestBody.content['multipart/form-data'].schema);
    const type = bodyTypes[0]!;
    return fc.oneof(
      fc.string({ maxLength: 200 }).map((body) => ({ mutation: `${type} text`, body, contentType: type })),
      fc.uint8Array({ maxLength: 200 }).map((body) => ({ mutation: `${type} bytes`, body, contentType: type })),
      fc.constant({ mutation: 'empty body', body: '', contentType: type }),
      fc.constant({ mutation: 'no content type', body: 'a=b' }),
    );
  })();

  // A share of requests is valid all through, so that handlers (not only validation) meet the fuzzer.
  const validQueryArb = fc.tuple(...queryParams.map((p) => fc.option(arbs.valid(p.schema), { freq: 2 }))).map((values) => {
    const parts = queryParams.flatMap((p, i) => (values[i] === null ? [] : [`${enc(p.name)}=${enc(typeof values[i] === 'object' ? JSON.stringify(values[i]) : String(values[i]))}`]));
    return parts.length ? `?${parts.join('&')}` : '';
  });
  const validBodyArb: fc.Arbitrary<{ mutation: string; body?: string | Uint8Array; contentType?: string }> = !bodyTypes.length
    ? fc.constant({ mutation: 'valid' })
    : jsonBody
      ? arbs.valid(jsonBody).map((v) => ({ mutation: 'valid', body: JSON.stringify(v), contentType: 'application/json' }))
      : bodyTypes.includes('multipart/form-data')
        ? fc.string({ maxLength: 100 }).map((content) => ({ mutation: 'valid', ...multipartFile(content) }))
        : fc.uint8Array({ maxLength: 100 }).map((body) => ({ mutation: 'valid', body, contentType: bodyTypes[0] }));
  // Who a valid request comes from: the admin key for admin routes, a signed-in user for the caller's own auth routes.
  const caller: [string, Record<string, string>] = surfaceAuth
    ? ['valid caller', surfaceAuth.caller]
    : path.startsWith('/v1/admin/')
    ? ['admin key', { authorization: `Bearer ${tokens.admin}` }]
    : path.startsWith('/v1/auth/') && !path.startsWith('/v1/auth/portal-')
      ? ['user token', { authorization: `Bearer ${tokens.user}` }]
      : ['tenant key', { authorization: `Bearer ${tokens.tenant}` }];
  const valid = fc.tuple(pathFrom(validPathValue), validQueryArb, fc.constant(caller), validBodyArb, fc.constant(null));
  const broken = fc.tuple(pathArb, queryArb, authArb, bodyArb, fc.option(fc.string({ maxLength: 80 }), { freq: 8 }));

  return fc.oneof({ weight: 2, arbitrary: valid }, { weight: 3, arbitrary: broken }).map(
    ([p, q, [who, auth], b, idempotency]) => {
      const headers: Record<string, string> = { ...auth };
      if (b.contentType) headers['content-type'] = b.contentType;
      if (idempotency !== null && method === 'post') headers['idempotency-key'] = idempotency.replace(/[^\x20-\x7e]/g, '?');
      return { mutation: `${b.mutation}, ${who}`, method: method.toUpperCase(), url: p + q, headers, body: b.body };
    },
  );
}

function jsonBodies(arbs: SchemaArbitraries, schema: Schema) {
  const resolved = arbs.resolve(schema);
  const sample = arbs.valid(schema);
  const required: string[] = resolved.required ?? [];
  const names = Object.keys(resolved.properties ?? {});
  const json = (mutation: string, value: unknown) => ({ mutation, body: JSON.stringify(value), contentType: 'application/json' });
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  return fc.oneof(
    { weight: 6, arbitrary: sample.map((v) => json('valid body', v)) },
    { weight: 2, arbitrary: sample.map((v) => json('unknown field', isObject(v) ? { ...v, fuzz_unknown_field: 1 } : v)) },
    { weight: 2, arbitrary: fc.tuple(sample, fc.constantFrom(...(required.length ? required : ['none']))).map(([v, name]) =>
      json(`missing ${name}`, isObject(v) ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== name)) : v)) },
    { weight: 4, arbitrary: fc.tuple(sample, fc.constantFrom(...(names.length ? names : ['x'])), hostileValue).map(([v, name, bad]) =>
      json(`${name} = ${JSON.stringify(bad)?.slice(0, 40)}`, isObject(v) ? { ...v, [name]: bad } : bad)) },
    { weight: 2, arbitrary: fc.tuple(sample, fc.constantFrom(...(names.length ? names : ['x'])), fc.constantFrom(10_000, 2_000, 100), fc.boolean()).map(([v, name, depth, inside]) => ({
      // `inside` reaches free-form values one level down: a record's json property, a file's meta.data.
      mutation: `${name}${inside ? '.data' : ''} nested ${depth} deep`,
      body: JSON.stringify(isObject(v) ? { ...v, [name]: inside ? { data: '__DEEP__' } : '__DEEP__' } : { x: '__DEEP__' }).replace('"__DEEP__"', depth > 5000 ? deepArray(depth) : deepJson(depth)),
      contentType: 'application/json',
    })) },
    { weight: 1, arbitrary: fc.constantFrom(
      json('body is an array', []), json('body is a string', 'x'), json('body is null', null), json('body is a number', 1),
      { mutation: 'truncated JSON', body: '{"label": "x", "scopes": [', contentType: 'application/json' },
      { mutation: 'empty JSON body', body: '', contentType: 'application/json' },
      { mutation: 'invalid UTF-8', body: new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]), contentType: 'application/json' },
      { mutation: 'NUL in JSON text', body: '{"a":"\u0000"}\u0000', contentType: 'application/json' },
      { mutation: 'duplicate keys', body: '{"a":1,"a":2,"__proto__":{"x":1}}', contentType: 'application/json' },
      { mutation: 'JSON labelled text/plain', body: '{"a":1}', contentType: 'text/plain' },
      { mutation: 'JSON without content type', body: '{"a":1}' },
      { mutation: 'JSON labelled multipart', body: '{"a":1}', contentType: 'multipart/form-data' },
      { mutation: 'JSON with charset latin1', body: '{"a":"\u00e9"}', contentType: 'application/json; charset=latin1' },
      { mutation: 'body over the limit', body: `{"a":"${'x'.repeat(1_100_000)}"}`, contentType: 'application/json' },
    ) },
  );
}

function multipartFile(content: string) {
  const boundary = 'fuzzboundary7MA4YWxkTrZu0gW';
  return {
    body: `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n${content}\r\n--${boundary}--\r\n`,
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

function multipartBodies(arbs: SchemaArbitraries, schema: Schema) {
  const boundary = 'fuzzboundary7MA4YWxkTrZu0gW';
  const type = `multipart/form-data; boundary=${boundary}`;
  const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const file = (content: string, filename = 'a.txt') =>
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: text/plain\r\n\r\n${content}\r\n`;
  const resolved = arbs.resolve(schema);
  const textFields = Object.keys(resolved.properties ?? {}).filter((n) => n !== 'file');
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.string({ maxLength: 200 }), fc.subarray(textFields), fc.constantFrom(...HOSTILE_VALUES.slice(0, 20))).map(([content, fields, bad]) => ({
      mutation: `multipart with ${fields.join(',') || 'file only'}`,
      body: `${file(content)}${fields.map((f) => field(f, typeof bad === 'string' ? bad : JSON.stringify(bad))).join('')}--${boundary}--\r\n`,
      contentType: type,
    })) },
    { weight: 2, arbitrary: fc.constantFrom(
      { mutation: 'multipart without closing boundary', body: `${file('hello')}`.slice(0, -2), contentType: type },
      { mutation: 'multipart truncated in the headers', body: `--${boundary}\r\nContent-Disposition: form-da`, contentType: type },
      { mutation: 'multipart without a file', body: `${field('folder', 'x')}--${boundary}--\r\n`, contentType: type },
      { mutation: 'multipart without boundary parameter', body: file('x'), contentType: 'multipart/form-data' },
      { mutation: 'multipart with a wrong boundary', body: file('x'), contentType: 'multipart/form-data; boundary=other' },
      { mutation: 'multipart with two files', body: `${file('a')}${file('b', 'b.txt')}--${boundary}--\r\n`, contentType: type },
      { mutation: 'multipart with a hostile file name', body: `${file('a', '../../etc/passwd\u0000.txt')}--${boundary}--\r\n`, contentType: type },
      { mutation: 'multipart body labelled JSON', body: `${file('a')}--${boundary}--\r\n`, contentType: 'application/json' },
      { mutation: 'empty multipart body', body: '', contentType: type },
    ) },
  );
}
