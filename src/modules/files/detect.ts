import { fileTypeFromBuffer } from 'file-type';

/** How many leading bytes are kept for detection; zip-based formats (docx, xlsx) need more than 4 KB. */
export const SNIFF_BYTES = 64 * 1024;

/**
 * Text types that are served as they are declared. Anything else that is text is served as text/plain:
 * a client that says text/html or image/svg+xml does not get a page rendered from our origin.
 */
const SAFE_TEXT: Record<string, string> = {
  'text/plain': 'txt',
  'text/csv': 'csv',
  'text/tab-separated-values': 'tsv',
  'text/markdown': 'md',
  'text/calendar': 'ics',
  'text/vtt': 'vtt',
  'application/json': 'json',
  'application/x-ndjson': 'ndjson',
  'application/yaml': 'yaml',
};
const TEXT_BY_EXTENSION: Record<string, string> = Object.fromEntries(Object.entries(SAFE_TEXT).map(([mime, ext]) => [ext, mime]));
TEXT_BY_EXTENSION.yml = 'application/yaml';
TEXT_BY_EXTENSION.jsonl = 'application/x-ndjson';
TEXT_BY_EXTENSION.markdown = 'text/markdown';

function looksLikeText(head: Uint8Array): boolean {
  if (head.includes(0)) return false;
  try {
    // `stream: true` forgives a multi-byte character cut off at the end of the sample.
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
    return true;
  } catch {
    return false;
  }
}

const baseType = (mime: string | undefined) => mime?.split(';')[0]?.trim().toLowerCase();

/**
 * The content type of a file, from its first bytes (file-type's signatures). The client's word only
 * chooses among safe text types when the bytes are text; binary that nothing recognises is octet-stream.
 */
export async function detectContentType(head: Uint8Array, declared: string | undefined, filename: string): Promise<string> {
  if (head.length === 0) return 'application/octet-stream';
  const found = await fileTypeFromBuffer(head);
  if (found) return found.mime;
  if (!looksLikeText(head)) return 'application/octet-stream';
  const claimed = baseType(declared);
  if (claimed && SAFE_TEXT[claimed]) return claimed;
  const extension = /\.([A-Za-z0-9]{1,10})$/.exec(filename)?.[1]?.toLowerCase();
  return (extension && TEXT_BY_EXTENSION[extension]) || 'text/plain';
}

/** The family of a type for search and stats: `image`, `video`, `audio`, `text`, `application`... */
export const mimeCategory = (mime: string) => mime.split('/')[0] ?? 'application';

/** Types sharp reads (and so can make variants of). */
export const IMAGE_INPUTS = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif', 'image/tiff']);

/** Served with `charset=utf-8` so browsers do not guess. */
export function servedContentType(mime: string): string {
  return mime.startsWith('text/') || mime === 'application/json' || mime === 'application/x-ndjson' || mime === 'application/yaml'
    ? `${mime}; charset=utf-8`
    : mime;
}
