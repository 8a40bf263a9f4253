import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** The text of a file, by its media type (or name): plain text, Markdown, HTML, PDF, DOCX. */
export type Extracted = { text: string; format: 'text' | 'markdown' | 'html' | 'pdf' | 'docx' };

export class UnsupportedFormat extends Error {}

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

export function formatOf(mimeType: string, filename: string): Extracted['format'] | null {
  const mime = mimeType.toLowerCase().split(';')[0]!.trim();
  const ext = filename.toLowerCase().split('.').pop() ?? '';
  if (mime === 'application/pdf' || ext === 'pdf') return 'pdf';
  if (mime === DOCX || ext === 'docx') return 'docx';
  if (mime === 'text/html' || mime === 'application/xhtml+xml' || ext === 'html' || ext === 'htm') return 'html';
  if (mime === 'text/markdown' || mime === 'text/x-markdown' || ext === 'md' || ext === 'markdown') return 'markdown';
  if (mime.startsWith('text/') || mime === 'application/json' || ext === 'txt') return 'text';
  return null;
}

/** How an HTML file becomes text: links without their addresses, images left out. */
const HTML_OPTIONS = { wordwrap: false, selectors: [{ selector: 'a', options: { ignoreHref: true } }, { selector: 'img', format: 'skip' }] };

const resolve = createRequire(import.meta.url).resolve;
const MODULES = { unpdf: resolve('unpdf'), mammoth: resolve('mammoth'), htmlToText: resolve('html-to-text') };

/**
 * What an extraction thread runs (plain JS, so it runs the same under tsx, vitest and the built dist).
 * Reading a PDF, a DOCX or HTML is synchronous work in these libraries: on the main thread 500 PDF
 * pages held every request of the process for 1.6 s, 5.5 MB of HTML for 0.7 s (a file may be 25 MB).
 */
const EXTRACT_WORKER = `
const { parentPort, workerData: w } = require('node:worker_threads');
async function extract(bytes) {
  if (w.format === 'pdf') {
    const { extractText, getDocumentProxy } = require(w.modules.unpdf);
    const pdf = await getDocumentProxy(new Uint8Array(bytes));
    return String((await extractText(pdf, { mergePages: true })).text);
  }
  if (w.format === 'docx') return (await require(w.modules.mammoth).extractRawText({ buffer: bytes })).value;
  return require(w.modules.htmlToText).convert(bytes.toString('utf8'), w.html);
}
extract(Buffer.from(w.bytes.buffer, w.bytes.byteOffset, w.bytes.byteLength)).then(
  (text) => parentPort.postMessage({ text }),
  (error) => parentPort.postMessage({ error: String((error && error.message) || error) }),
);
`;

/** Longest an extraction may take; a file that needs longer (or more memory than the thread has) fails. */
const EXTRACT_TIMEOUT_MS = 120_000;
const EXTRACT_MEMORY_MB = 1024;

/** A file's text read in a thread of its own, with a time and a memory limit of its own. */
function extractInThread(format: 'pdf' | 'docx' | 'html', bytes: Buffer): Promise<string> {
  const copy = new Uint8Array(bytes);
  return new Promise<string>((resolve, reject) => {
    const worker = new Worker(EXTRACT_WORKER, {
      eval: true,
      workerData: { format, bytes: copy, modules: MODULES, html: HTML_OPTIONS },
      transferList: [copy.buffer],
      resourceLimits: { maxOldGenerationSizeMb: EXTRACT_MEMORY_MB },
    });
    let settled = false;
    const done = (error: Error | undefined, text?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      if (error) reject(error);
      else resolve(text!);
    };
    const timer = setTimeout(() => done(new Error(`reading the file's text took over ${EXTRACT_TIMEOUT_MS / 1000} s`)), EXTRACT_TIMEOUT_MS);
    worker.once('message', (m: { text?: string; error?: string }) => done(m.error !== undefined ? new Error(m.error) : undefined, m.text ?? ''));
    worker.once('error', (error: Error & { code?: string }) =>
      done(error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? new Error(`reading the file's text needs more than ${EXTRACT_MEMORY_MB} MB`) : error),
    );
    worker.once('exit', (code) => done(new Error(`reading the file's text stopped (exit code ${code})`)));
  });
}

export async function extractText(bytes: Buffer, mimeType: string, filename: string): Promise<Extracted> {
  const format = formatOf(mimeType, filename);
  switch (format) {
    case 'pdf':
    case 'docx':
    case 'html':
      return { text: await extractInThread(format, bytes), format };
    case 'markdown':
    case 'text':
      return { text: bytes.toString('utf8'), format };
    default:
      throw new UnsupportedFormat(`files of type ${mimeType} cannot be indexed (text, Markdown, HTML, PDF and DOCX can)`);
  }
}
