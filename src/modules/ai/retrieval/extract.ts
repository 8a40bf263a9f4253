import { convert } from 'html-to-text';

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

export async function extractText(bytes: Buffer, mimeType: string, filename: string): Promise<Extracted> {
  const format = formatOf(mimeType, filename);
  switch (format) {
    case 'pdf': {
      const { extractText: pdfText, getDocumentProxy } = await import('unpdf');
      const pdf = await getDocumentProxy(new Uint8Array(bytes));
      const { text } = await pdfText(pdf, { mergePages: true });
      return { text: String(text), format };
    }
    case 'docx': {
      const mammoth = await import('mammoth');
      const { value } = await mammoth.extractRawText({ buffer: bytes });
      return { text: value, format };
    }
    case 'html':
      return { text: convert(bytes.toString('utf8'), { wordwrap: false, selectors: [{ selector: 'a', options: { ignoreHref: true } }, { selector: 'img', format: 'skip' }] }), format };
    case 'markdown':
    case 'text':
      return { text: bytes.toString('utf8'), format };
    default:
      throw new UnsupportedFormat(`files of type ${mimeType} cannot be indexed (text, Markdown, HTML, PDF and DOCX can)`);
  }
}
