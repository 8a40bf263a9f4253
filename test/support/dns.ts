import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

/**
 * A DNS server on 127.0.0.1 over UDP that answers TXT questions from a map (NXDOMAIN otherwise), so
 * the platform's real resolver (node's c-ares, pointed here by DNS_SERVERS) asks it over the wire.
 * `fail` makes it answer SERVFAIL, as an upstream outage would. No library: the few bytes of
 * RFC 1035 a TXT answer needs are written out below.
 */
export interface FakeDns {
  url: string;
  records: Map<string, string[]>;
  fail: boolean;
  close(): Promise<void>;
}

export async function fakeDns(): Promise<FakeDns> {
  const socket = createSocket('udp4');
  const state: FakeDns = { url: '', records: new Map(), fail: false, close: () => new Promise((r) => socket.close(() => r())) };
  socket.on('message', (msg, peer) => {
    if (msg.length < 12) return;
    const labels: string[] = [];
    let at = 12;
    while (at < msg.length && msg[at] !== 0) {
      const len = msg[at]!;
      labels.push(msg.subarray(at + 1, at + 1 + len).toString('ascii'));
      at += len + 1;
    }
    const qEnd = at + 5; // zero byte, QTYPE, QCLASS
    const question = msg.subarray(12, qEnd);
    const qtype = msg.readUInt16BE(at + 1);
    const name = labels.join('.').toLowerCase();
    const values = qtype === 16 ? state.records.get(name) : undefined;
    const rcode = state.fail ? 2 : values ? 0 : 3;
    const answers = (values ?? []).map((v) => {
      const text = Buffer.from(v, 'utf8');
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      rr.writeUInt16BE(16, 2); // TXT
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(60, 6); // TTL
      rr.writeUInt16BE(text.length + 1, 10);
      return Buffer.concat([rr, Buffer.from([text.length]), text]);
    });
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8180 | rcode, 2); // response, recursion desired + available
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(state.fail ? 0 : answers.length, 6);
    socket.send(Buffer.concat([header, question, ...(state.fail ? [] : answers)]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  state.url = `127.0.0.1:${(socket.address() as AddressInfo).port}`;
  return state;
}
