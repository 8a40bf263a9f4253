import JSZip from 'jszip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObject, defineType, pollUntil, roleUser, uncatalogedEvents } from '../../../../test/support/objects.ts';
import { upload } from '../../../../test/support/files.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant({ plan_tier: 'enterprise' });
  other = await t.newTenant({ plan_tier: 'enterprise' });
  await defineType(t, tenant.token, 'articles', { title: { data_type: 'text' }, body: { data_type: 'text' } });
});
afterAll(() => t?.close());

const req = (method: string, path: string, body?: unknown, token = tenant.token) => t.request(method, path, { token, body });
type Hit = { source: string; id: string; object_type_id: string | null; property: string | null; score: number; text: string };
const search = async (query: string, extra: Record<string, unknown> = {}, token = tenant.token) => {
  const res = await req('POST', '/v1/ai/search', { query, ...extra }, token);
  expect(res.status, res.text).toBe(200);
  return res.body.data.results as Hit[];
};

/** A one-page PDF whose content stream draws `text` (offsets computed, so the xref table is valid). */
function pdf(text: string): Buffer {
  const stream = `BT /F1 12 Tf 72 720 Td (${text}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** A minimal DOCX (a zip of three parts) with one paragraph. */
async function docx(text: string): Promise<Buffer> {
  const zip = new JSZip();
  zip.file(
    '[Content_Types].xml',
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
  );
  zip.file(
    '_rels/.rels',
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
  );
  zip.file(
    'word/document.xml',
    `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>${text}</w:t></w:r></w:p></w:body></w:document>`,
  );
  return zip.generateAsync({ type: 'nodebuffer' });
}

describe('index and search', () => {
  let ids: string[];
  beforeAll(async () => {
    ids = [];
    for (const [title, body] of [
      ['Sourdough baking', 'How to bake bread with a sourdough starter, flour, water and salt in a hot oven.'],
      ['Mountain hiking', 'Trails, boots and weather: planning a long walk in the alps.'],
      ['Quarterly revenue', 'Sales grew twelve percent; the invoices of the third quarter were paid on time.'],
    ]) {
      ids.push((await createObject(t, tenant.token, 'articles', { title, body })).id);
    }
  });

  it('indexes objects and finds them by meaning', async () => {
    const res = await req('POST', '/v1/ai/index', { object_type_id: 'articles', object_ids: [...ids, 'obj_00000000000000000000000000'] });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data).toMatchObject({ indexed: 3, model: 'use-lite-512', not_found: ['obj_00000000000000000000000000'] });
    expect(res.body.data.object_type_id).toMatch(/^ot_/);
    expect(res.body.data.chunks).toBe(6);

    const hits = await search('recipe for homemade bread');
    expect(hits[0]).toMatchObject({ source: 'object', id: ids[0], object_type_id: res.body.data.object_type_id });
    expect(hits[0]!.text).toMatch(/sourdough/i);
    expect(new Set(hits.map((h) => h.id)).size).toBe(hits.length);
    const full = await req('POST', '/v1/ai/search', { query: 'walking in the mountains', limit: 1, object_type_id: 'articles' });
    expect(full.body.data).toMatchObject({ model: 'use-lite-512', dimensions: 512 });
    expect(full.body.data.results).toHaveLength(1);
    expect(full.body.data.results[0].id).toBe(ids[1]);
  });

  it('answers each documented error', async () => {
    expect((await req('POST', '/v1/ai/index', { object_type_id: 'nope', object_ids: ids })).status).toBe(404);
    expect((await req('POST', '/v1/ai/index', { object_type_id: 'articles', object_ids: ['obj_00000000000000000000000000'] })).status).toBe(404);
    const many = Array.from({ length: 101 }, (_, i) => `obj_${i}`);
    expect((await req('POST', '/v1/ai/index', { object_type_id: 'articles', object_ids: many })).status).toBe(400);
    expect((await req('POST', '/v1/ai/index', { object_type_id: 'articles', object_ids: [] })).status).toBe(400);
    expect((await req('POST', '/v1/ai/index', { object_type_id: 'articles', object_ids: ids, extra: 1 })).status).toBe(400);
    expect((await req('POST', '/v1/ai/search', { query: '' })).status).toBe(400);
    expect((await req('POST', '/v1/ai/search', { query: 'x', limit: 101 })).status).toBe(400);
    expect((await req('POST', '/v1/ai/search', { query: 'x', object_type_id: 'nope' })).status).toBe(404);
    expect((await t.request('POST', '/v1/ai/search', { body: { query: 'x' } })).status).toBe(401);
    const noAi = await t.newKey(tenant.token, { scopes: ['read'] });
    expect((await req('POST', '/v1/ai/search', { query: 'x' }, noAi.token)).status).toBe(403);
    expect((await req('PUT', '/v1/ai/index/settings/nope', { auto_index: true })).status).toBe(404);
    expect((await req('GET', '/v1/ai/index/files/file_00000000000000000000000000')).status).toBe(404);
    expect((await req('POST', '/v1/ai/index/files', { file_ids: ['file_00000000000000000000000000'] })).status).toBe(404);
  });

  it("shows another tenant's key nothing of this tenant", async () => {
    expect((await req('POST', '/v1/ai/index', { object_type_id: 'articles', object_ids: ids }, other.token)).status).toBe(404);
    await defineType(t, other.token, 'articles', { title: { data_type: 'text' } });
    expect((await req('POST', '/v1/ai/index', { object_type_id: 'articles', object_ids: ids }, other.token)).status).toBe(404);
    expect(await search('sourdough bread', {}, other.token)).toEqual([]);
  });
});

describe('automatic re-indexing', () => {
  it('follows create, update, delete and restore of an opted-in type', async () => {
    await defineType(t, tenant.token, 'tickets', { subject: { data_type: 'text' } });
    const set = await req('PUT', '/v1/ai/index/settings/tickets', { auto_index: true });
    expect(set.status, set.text).toBe(200);
    expect(set.body.data.auto_index).toBe(true);
    expect((await req('GET', '/v1/ai/index/settings')).body.data.map((s: { auto_index: boolean }) => s.auto_index)).toEqual([true]);

    const ticket = await createObject(t, tenant.token, 'tickets', { subject: 'The printer on floor three is jammed with paper' });
    const found = (q: string) => search(q, { object_type_id: 'tickets' });
    await pollUntil(() => found('printer paper jam'), (hits) => hits.some((h) => h.id === ticket.id));

    const upd = await req('PATCH', `/v1/objects/tickets/${ticket.id}`, { properties: { subject: 'Cannot log in to the VPN from home' } });
    expect(upd.status, upd.text).toBe(200);
    await pollUntil(() => found('vpn login problem'), (hits) => hits[0]?.id === ticket.id && /VPN/.test(hits[0]!.text));
    expect((await found('printer paper jam')).some((h) => /printer/i.test(h.text))).toBe(false);

    expect((await req('DELETE', `/v1/objects/tickets/${ticket.id}`)).status).toBe(200);
    expect(await found('vpn login problem')).toEqual([]);
    const restored = await req('POST', `/v1/objects/tickets/${ticket.id}/restore`);
    expect(restored.status, restored.text).toBe(200);
    await pollUntil(() => found('vpn login problem'), (hits) => hits[0]?.id === ticket.id);
  });

  it('backfills the existing records of a type when it opts in', async () => {
    await defineType(t, tenant.token, 'faqs', { question: { data_type: 'text' } });
    const faq = await createObject(t, tenant.token, 'faqs', { question: 'How do I reset my password?' });
    await req('PUT', '/v1/ai/index/settings/faqs', { auto_index: true });
    await pollUntil(() => search('forgot password', { object_type_id: 'faqs' }), (hits) => hits[0]?.id === faq.id);
  });
});

describe('permissions', () => {
  it('never retrieves rows a policy hides or text of a property masked for the role', async () => {
    await defineType(t, tenant.token, 'staff', { name: { data_type: 'text' }, team: { data_type: 'text' }, salary_note: { data_type: 'text' } });
    const visible = await createObject(t, tenant.token, 'staff', { name: 'Alice Gardener', team: 'public', salary_note: 'Alice earns a secret bonus of ninety thousand dollars' });
    const hidden = await createObject(t, tenant.token, 'staff', { name: 'Bob Secretagent', team: 'covert', salary_note: 'Bob is paid in gold bars' });
    expect((await req('POST', '/v1/ai/index', { object_type_id: 'staff', object_ids: [visible.id, hidden.id] })).status).toBe(200);
    const user = await roleUser(t, tenant.token, 'analyst', ['read', 'ai']);
    await req('POST', '/v1/object-types/staff/policies', { name: 'public only', action: 'select', role: 'analyst', condition_json: { property: 'team', op: 'eq', value: 'public' } });
    const gov = await req('PATCH', '/v1/governance', { masked_properties: [{ object_type_id: 'staff', property: 'salary_note', roles: ['analyst'] }] });
    expect(gov.status, gov.text).toBe(200);

    // The admin key sees both, including the salary note.
    const admin = await search('secret bonus salary gold bars', { object_type_id: 'staff', limit: 10 });
    expect(admin.map((h) => h.id).sort()).toEqual([visible.id, hidden.id].sort());
    expect(admin.some((h) => h.property === 'salary_note')).toBe(true);

    for (const q of ['secret bonus salary', 'gold bars payment', 'Bob Secretagent covert', 'ninety thousand dollars']) {
      const hits = await search(q, { limit: 100 }, user.token);
      expect(hits.some((h) => h.id === hidden.id), q).toBe(false);
      expect(hits.some((h) => h.property === 'salary_note'), q).toBe(false);
      expect(JSON.stringify(hits)).not.toMatch(/bonus|ninety|gold|Secretagent/i);
    }
    // What the user may read is still found.
    expect((await search('Alice Gardener', { object_type_id: 'staff' }, user.token))[0]).toMatchObject({ id: visible.id, property: 'name' });
  });
});

describe('files', () => {
  it('indexes text, Markdown, HTML, PDF and DOCX files, with progress and de-duplication', async () => {
    const files = [
      { bytes: 'The lighthouse keeper watches the stormy sea every night.', filename: 'keeper.txt', type: 'text/plain', query: 'lighthouse by the sea' },
      { bytes: '# Volcanoes\n\nMagma erupts from the **volcano** and lava flows downhill.', filename: 'volcano.md', type: 'text/markdown', query: 'lava eruption' },
      { bytes: '<html><body><h1>Chess</h1><p>The knight moves in an L shape across the board.</p></body></html>', filename: 'chess.html', type: 'text/html', query: 'chess pieces moves' },
      { bytes: pdf('Penguins live in Antarctica and swim in icy water.'), filename: 'penguins.pdf', type: 'application/pdf', query: 'penguins in the antarctic' },
      { bytes: await docx('Espresso is brewed by forcing hot water through ground coffee.'), filename: 'coffee.docx', type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', query: 'making coffee' },
    ];
    const ids: string[] = [];
    for (const f of files) {
      const up = await upload(t, tenant.token, f.bytes, { filename: f.filename, type: f.type });
      expect(up.status, up.text).toBe(201);
      ids.push(up.body.data.id);
    }
    const queued = await req('POST', '/v1/ai/index/files', { file_ids: [...ids, 'file_00000000000000000000000000'] });
    expect(queued.status, queued.text).toBe(202);
    expect(queued.body.data.not_found).toEqual(['file_00000000000000000000000000']);
    for (const id of ids) {
      const done = await pollUntil(() => req('GET', `/v1/ai/index/files/${id}`), (r) => ['indexed', 'failed'].includes(r.body.data?.status));
      expect(done.body.data, id).toMatchObject({ status: 'indexed', progress: 100, error: null });
      expect(done.body.data.chunks).toBeGreaterThan(0);
    }
    for (const [i, f] of files.entries()) {
      const hits = await search(f.query, { sources: ['files'] });
      expect(hits[0]?.id, f.filename).toBe(ids[i]);
      expect(hits[0]!.source).toBe('file');
    }
    // The same text again: nothing is embedded anew.
    await req('POST', '/v1/ai/index/files', { file_ids: [ids[0]] });
    const again = await pollUntil(() => req('GET', `/v1/ai/index/files/${ids[0]}`), (r) => r.body.data.status === 'indexed');
    expect(again.body.data.chunks).toBe(1);
    // A user without the files scope retrieves no file text.
    const user = await roleUser(t, tenant.token, 'searcher', ['read', 'ai']);
    expect(await search('lighthouse by the sea', { sources: ['files'] }, user.token)).toEqual([]);
    // A purged file leaves the index.
    expect((await req('DELETE', `/v1/files/${ids[1]}?permanent=true`)).status).toBe(200);
    await pollUntil(() => req('GET', `/v1/ai/index/files/${ids[1]}`), (r) => r.status === 404);
    expect((await search('lava eruption', { sources: ['files'] })).some((h) => h.id === ids[1])).toBe(false);
    // Another tenant sees none of it.
    expect((await req('GET', `/v1/ai/index/files/${ids[0]}`, undefined, other.token)).status).toBe(404);
    expect(await search('lighthouse by the sea', {}, other.token)).toEqual([]);
  });

  it('indexes a long file segment by segment, to its last sentence', async () => {
    // Over 16 KB of text is tokenized a segment at a time (the event loop turns between them); one run
    // of 20,000 letters without a space is cut mid-word. Every part still lands in the index.
    const filler = Array.from({ length: 150 }, (_, i) => `Paragraph ${i} describes the quarterly inventory of office chairs and desks.`).join('\n\n');
    const last = Array.from({ length: 8 }, () => 'The zeppelin hangar stores airships filled with helium.').join(' ');
    const text = `${filler}\n\n${'q'.repeat(20_000)}\n\n${filler}\n\n${last}`;
    const up = await upload(t, tenant.token, text, { filename: 'long.txt', type: 'text/plain' });
    expect(up.status, up.text).toBe(201);
    expect((await req('POST', '/v1/ai/index/files', { file_ids: [up.body.data.id] })).status).toBe(202);
    const done = await pollUntil(() => req('GET', `/v1/ai/index/files/${up.body.data.id}`), (r) => ['indexed', 'failed'].includes(r.body.data?.status));
    expect(done.body.data).toMatchObject({ status: 'indexed', error: null });
    expect(done.body.data.chunks).toBeGreaterThan(40);
    const hits = await search('zeppelin hangar with airships', { sources: ['files'] });
    expect(hits[0]?.id).toBe(up.body.data.id);
    expect(hits[0]!.text).toContain('zeppelin hangar');
  });

  it('refuses files it cannot read as text', async () => {
    const up = await upload(t, tenant.token, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]), { filename: 'x.bin' });
    expect(up.status).toBe(201);
    expect((await req('POST', '/v1/ai/index/files', { file_ids: [up.body.data.id] })).status).toBe(415);
  });
});

describe('health and events', () => {
  it('reports the vector index in /health', async () => {
    const res = await t.request('GET', '/health');
    expect(res.body.data.vector_index).toBe(t.db.pgvector ? 'pgvector' : 'hnsw');
  });

  it('emits only catalogued events', async () => {
    expect((await uncatalogedEvents(t, [tenant.tenantId, other.tenantId])).problems).toEqual([]);
  });
});
