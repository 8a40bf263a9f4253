import { z } from '@hono/zod-openapi';
import { parsePhoneNumberWithError } from 'libphonenumber-js';
import { JSON_MAX_DEPTH, tooDeepInValue } from '../../../core/http/json.ts';

/**
 * The 22 data types a property can have: how a value is validated and normalised on every write,
 * which column of the typed index holds it (records/storage.ts), and whether it feeds full-text search.
 */

/** Which value column of the typed index a data type uses; null: the type cannot be indexed. */
export type IndexKind = 'text' | 'num' | 'ts' | null;

export interface PropertyDef {
  id: string;
  name: string;
  dataType: DataType;
  isIndexed: boolean;
  isSortable: boolean;
  isUnique: boolean;
  isRequired: boolean;
  defaultValue: unknown;
  enumValues: string[] | null;
  options: Record<string, unknown>;
}

type Check = { ok: true; value: unknown } | { ok: false; message: string };

interface DataTypeSpec {
  description: string;
  index: IndexKind;
  /** Values of this type go into the record's full-text vector. */
  searchable: boolean;
  /** Several values (an array); each gets its own row in the typed index. */
  multi?: boolean;
  /** Validates a JSON value (already known not to be null) and returns its stored form. */
  check(value: unknown, def: PropertyDef): Check;
  /** Turns text (CSV cells, query-string filters) into the JSON value `check` expects. */
  fromText?(raw: string, def: PropertyDef): unknown;
}

const ok = (value: unknown): Check => ({ ok: true, value });
const bad = (message: string): Check => ({ ok: false, message });

const STRING_MAX = 500;
const TEXT_MAX = 100_000;
const JSON_MAX_BYTES = 64 * 1024;

function maxLength(def: PropertyDef, ceiling: number): number {
  const n = def.options.max_length;
  return typeof n === 'number' ? Math.min(n, ceiling) : ceiling;
}

function checkRange(n: number, def: PropertyDef): Check {
  const { min, max } = def.options as { min?: number; max?: number };
  if (typeof min === 'number' && n < min) return bad(`must be at least ${min}`);
  if (typeof max === 'number' && n > max) return bad(`must be at most ${max}`);
  return ok(n);
}

function finiteNumber(value: unknown, def: PropertyDef): Check {
  if (typeof value !== 'number' || !Number.isFinite(value)) return bad('must be a finite number');
  return checkRange(value, def);
}

const numberFromText = (raw: string) => {
  const trimmed = raw.trim();
  if (trimmed === '') return raw;
  const n = Number(trimmed);
  return Number.isNaN(n) ? raw : n;
};

function text(max: number) {
  return (value: unknown, def: PropertyDef): Check => {
    if (typeof value !== 'string') return bad('must be a string');
    const limit = maxLength(def, max);
    if (value.length > limit) return bad(`must be at most ${limit} characters`);
    return ok(value);
  };
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;
const ISO_DATETIME = z.iso.datetime({ offset: true });
const EMAIL = z.email();
const URL = z.url({ protocol: /^https?$/ });
const UUID = z.uuid();
const ID_BODY = /^[0-9a-z]{1,64}$/;

function enumCheck(value: unknown, def: PropertyDef): Check {
  if (typeof value !== 'string') return bad('must be a string');
  if (!def.enumValues?.includes(value)) return bad(`must be one of: ${(def.enumValues ?? []).join(', ')}`);
  return ok(value);
}

function idCheck(prefix: string, what: string) {
  const head = `${prefix}_`;
  return (value: unknown): Check =>
    typeof value === 'string' && value.startsWith(head) && ID_BODY.test(value.slice(head.length)) ? ok(value) : bad(`must be ${what} id (${prefix}_...)`);
}

export const DATA_TYPES = {
  string: { description: `Single-line text up to ${STRING_MAX} characters (\`options.max_length\` lowers it). Indexable, searchable.`, index: 'text', searchable: true, check: text(STRING_MAX) },
  text: { description: `Long or formatted text (plain, Markdown or HTML source) up to ${TEXT_MAX} characters. Searchable, not indexable.`, index: null, searchable: true, check: text(TEXT_MAX) },
  integer: {
    description: 'Whole number within ±2^53 (`options.min`, `options.max`). Indexable, sortable.',
    index: 'num',
    searchable: false,
    check: (v, def) => (typeof v === 'number' && Number.isSafeInteger(v) ? checkRange(v, def) : bad('must be an integer')),
    fromText: numberFromText,
  },
  number: { description: 'Finite decimal number (`options.min`, `options.max`). Indexable, sortable.', index: 'num', searchable: false, check: finiteNumber, fromText: numberFromText },
  boolean: {
    description: '`true` or `false`. Indexable.',
    index: 'text',
    searchable: false,
    check: (v) => (typeof v === 'boolean' ? ok(v) : bad('must be true or false')),
    fromText: (raw) => {
      const t = raw.trim().toLowerCase();
      if (['true', '1', 'yes'].includes(t)) return true;
      if (['false', '0', 'no'].includes(t)) return false;
      return raw;
    },
  },
  date: {
    description: 'Calendar date `YYYY-MM-DD`. Indexable, sortable.',
    index: 'ts',
    searchable: false,
    check: (v) => {
      if (typeof v !== 'string') return bad('must be a date YYYY-MM-DD');
      const m = DATE.exec(v);
      const d = m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!)) : null;
      if (!m || !d || d.getUTCMonth() !== +m[2]! - 1 || d.getUTCDate() !== +m[3]!) return bad('must be a date YYYY-MM-DD');
      return ok(v);
    },
  },
  datetime: {
    description: 'Instant in ISO 8601 with offset or `Z`; stored in UTC as `YYYY-MM-DDTHH:mm:ss.sssZ`. Indexable, sortable.',
    index: 'ts',
    searchable: false,
    check: (v) => {
      if (typeof v !== 'string' || !ISO_DATETIME.safeParse(v).success) return bad('must be an ISO 8601 date-time with offset, e.g. 2026-01-01T09:00:00Z');
      const d = new Date(v);
      if (Number.isNaN(d.getTime()) || d.getUTCFullYear() > 9999) return bad('must be a valid date-time');
      return ok(d.toISOString());
    },
  },
  time: {
    description: 'Time of day `HH:MM` or `HH:MM:SS`, stored as `HH:MM:SS`. Indexable, sortable.',
    index: 'text',
    searchable: false,
    check: (v) => {
      const m = typeof v === 'string' ? TIME.exec(v) : null;
      return m ? ok(`${m[1]}:${m[2]}:${m[3] ?? '00'}`) : bad('must be a time HH:MM or HH:MM:SS');
    },
  },
  email: {
    description: 'Email address, stored in lower case (unique emails compare without case). Indexable, searchable.',
    index: 'text',
    searchable: true,
    check: (v) => (typeof v === 'string' && v.length <= 254 && EMAIL.safeParse(v.trim()).success ? ok(v.trim().toLowerCase()) : bad('must be an email address')),
  },
  url: {
    description: 'Absolute http(s) URL up to 2048 characters. Indexable.',
    index: 'text',
    searchable: false,
    check: (v) => (typeof v === 'string' && v.length <= 2048 && URL.safeParse(v).success ? ok(v) : bad('must be an http(s) URL')),
  },
  phone: {
    description: 'Phone number in international form (`+` and country code), stored as E.164 (`+14155552671`). Indexable.',
    index: 'text',
    searchable: false,
    check: (v) => {
      if (typeof v !== 'string' || v.length > 40) return bad('must be a phone number in international form, e.g. +14155552671');
      try {
        const parsed = parsePhoneNumberWithError(v);
        return parsed.isPossible() ? ok(parsed.number) : bad('is not a possible phone number');
      } catch {
        return bad('must be a phone number in international form, e.g. +14155552671');
      }
    },
  },
  enum: { description: 'One of the property\'s `enum_values`. Indexable, searchable.', index: 'text', searchable: true, check: enumCheck },
  multi_enum: {
    description: 'A list of distinct `enum_values` (up to 100); CSV cells separate them with `;`. Indexable (filter with `contains`/`in`), searchable.',
    index: 'text',
    searchable: true,
    multi: true,
    check: (v, def) => {
      if (!Array.isArray(v)) return bad('must be an array of enum values');
      if (v.length > 100) return bad('must have at most 100 values');
      for (const item of v) {
        const r = enumCheck(item, def);
        if (!r.ok) return bad(`has a value that ${r.message}`);
      }
      return ok([...new Set(v as string[])]);
    },
    fromText: (raw) => {
      const t = raw.trim();
      if (t.startsWith('[')) {
        try {
          return JSON.parse(t) as unknown;
        } catch {
          return raw;
        }
      }
      return t === '' ? [] : t.split(';').map((s) => s.trim()).filter(Boolean);
    },
  },
  currency: {
    description: 'Money amount as a number in the currency of `options.currency_code` (ISO 4217, default USD). Indexable, sortable.',
    index: 'num',
    searchable: false,
    check: finiteNumber,
    fromText: numberFromText,
  },
  percent: { description: 'Percentage as a number (12.5 means 12.5 %). Indexable, sortable.', index: 'num', searchable: false, check: finiteNumber, fromText: numberFromText },
  json: {
    description: `Any JSON value up to ${JSON_MAX_BYTES / 1024} KB. Not indexable.`,
    index: null,
    searchable: false,
    check: (v) => {
      // Depth first: JSON.stringify recurses, and a value from an import file has met no body check.
      if (tooDeepInValue(v)) return bad(`must nest at most ${JSON_MAX_DEPTH} levels of objects and arrays`);
      return JSON.stringify(v).length <= JSON_MAX_BYTES ? ok(v) : bad(`must be at most ${JSON_MAX_BYTES} bytes of JSON`);
    },
    fromText: (raw) => {
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        return raw;
      }
    },
  },
  reference: {
    description: 'Id of a live record (`obj_...`) of the type in `options.target_object_type_id`; checked on write. Indexable.',
    index: 'text',
    searchable: false,
    check: idCheck('obj', 'an object'),
  },
  file: { description: 'Id of a stored file (`file_...`). Indexable.', index: 'text', searchable: false, check: idCheck('file', 'a file') },
  user: { description: 'Id of a user of the tenant (`usr_...`). Indexable.', index: 'text', searchable: false, check: idCheck('usr', 'a user') },
  uuid: {
    description: 'UUID, stored in lower case. Indexable.',
    index: 'text',
    searchable: false,
    check: (v) => (typeof v === 'string' && UUID.safeParse(v).success ? ok(v.toLowerCase()) : bad('must be a UUID')),
  },
  rating: {
    description: 'Whole number from 0 to `options.max` (default 5). Indexable, sortable.',
    index: 'num',
    searchable: false,
    check: (v, def) => {
      const max = typeof def.options.max === 'number' ? def.options.max : 5;
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max ? ok(v) : bad(`must be a whole number from 0 to ${max}`);
    },
    fromText: numberFromText,
  },
  geo_point: {
    description: 'Location `{ "lat": -90..90, "lng": -180..180 }`; CSV cells as `lat,lng`. Not indexable.',
    index: null,
    searchable: false,
    check: (v) => {
      const p = v as { lat?: unknown; lng?: unknown };
      if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).some((k) => k !== 'lat' && k !== 'lng')) {
        return bad('must be { "lat": number, "lng": number }');
      }
      if (typeof p.lat !== 'number' || p.lat < -90 || p.lat > 90) return bad('lat must be a number from -90 to 90');
      if (typeof p.lng !== 'number' || p.lng < -180 || p.lng > 180) return bad('lng must be a number from -180 to 180');
      return ok({ lat: p.lat, lng: p.lng });
    },
    fromText: (raw) => {
      const t = raw.trim();
      if (t.startsWith('{')) {
        try {
          return JSON.parse(t) as unknown;
        } catch {
          return raw;
        }
      }
      const [lat, lng, ...rest] = t.split(',').map((s) => Number(s.trim()));
      return rest.length === 0 && lat !== undefined && lng !== undefined && !Number.isNaN(lat) && !Number.isNaN(lng) ? { lat, lng } : raw;
    },
  },
} satisfies Record<string, DataTypeSpec>;

export type DataType = keyof typeof DATA_TYPES;
export const DATA_TYPE_NAMES = Object.keys(DATA_TYPES) as [DataType, ...DataType[]];

const spec = (t: DataType): DataTypeSpec => DATA_TYPES[t];

export const DataTypeSchema = z.enum(DATA_TYPE_NAMES).openapi('DataType', {
  description: [
    'The data type of a property. Every write is validated against it.',
    '',
    '| type | values |',
    '|---|---|',
    ...DATA_TYPE_NAMES.map((t) => `| \`${t}\` | ${spec(t).description} |`),
  ].join('\n'),
  'x-enum-descriptions': DATA_TYPE_NAMES.map((t) => spec(t).description),
} as Record<string, unknown>);

export const indexKindOf = (t: DataType): IndexKind => spec(t).index;
export const isMultiValued = (t: DataType): boolean => spec(t).multi === true;
export const isSearchable = (t: DataType): boolean => spec(t).searchable;
/** A property is in the typed index when any of its index flags is set. */
export const isIndexedProperty = (p: PropertyDef): boolean => (p.isIndexed || p.isSortable || p.isUnique) && indexKindOf(p.dataType) !== null;

/** Validates and normalises one non-null value; the message says what is wrong. */
export function checkValue(def: PropertyDef, value: unknown): Check {
  return spec(def.dataType).check(value, def);
}

/** The JSON value a text cell or query-string value stands for (numbers, booleans, lists...). */
export function valueFromText(def: PropertyDef, raw: string): unknown {
  const from = spec(def.dataType).fromText;
  return from ? from(raw, def) : raw;
}

/** True when a value counts as absent for `is_required` and `is_empty`. */
export function isEmptyValue(value: unknown): boolean {
  return value === null || value === undefined || value === '' || (Array.isArray(value) && value.length === 0);
}

/** Checks the type-specific options of a property definition; returns a message or null. */
export function checkOptions(dataType: DataType, options: Record<string, unknown>, enumValues: string[] | null | undefined): string | null {
  const allowed: Record<string, string[]> = {
    string: ['max_length'],
    text: ['max_length'],
    integer: ['min', 'max'],
    number: ['min', 'max'],
    currency: ['min', 'max', 'currency_code'],
    percent: ['min', 'max'],
    rating: ['max'],
    reference: ['target_object_type_id'],
  };
  for (const key of Object.keys(options)) {
    if (!(allowed[dataType] ?? []).includes(key)) return `options.${key} does not apply to data type ${dataType}`;
  }
  const { max_length, min, max, currency_code, target_object_type_id } = options;
  if (max_length !== undefined && (typeof max_length !== 'number' || !Number.isInteger(max_length) || max_length < 1)) return 'options.max_length must be a positive integer';
  if (min !== undefined && (typeof min !== 'number' || !Number.isFinite(min))) return 'options.min must be a number';
  if (max !== undefined && (typeof max !== 'number' || !Number.isFinite(max))) return 'options.max must be a number';
  if (dataType === 'rating' && max !== undefined && (!Number.isInteger(max) || (max as number) < 1 || (max as number) > 100)) return 'options.max of a rating must be a whole number from 1 to 100';
  if (typeof min === 'number' && typeof max === 'number' && min > max) return 'options.min must not exceed options.max';
  if (currency_code !== undefined && (typeof currency_code !== 'string' || !/^[A-Z]{3}$/.test(currency_code))) return 'options.currency_code must be an ISO 4217 code like USD';
  if (dataType === 'reference' && typeof target_object_type_id !== 'string') return 'options.target_object_type_id is required for reference properties';
  const isEnum = dataType === 'enum' || dataType === 'multi_enum';
  if (isEnum && (!enumValues || enumValues.length === 0)) return `enum_values is required for data type ${dataType}`;
  if (!isEnum && enumValues && enumValues.length > 0) return `enum_values applies only to enum and multi_enum`;
  return null;
}
