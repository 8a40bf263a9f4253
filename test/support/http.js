import http from 'node:http';
import net from 'node:net';
const parse = (text) => {
    try {
        return JSON.parse(text);
    }
    catch {
        return undefined;
    }
};
/**
 * A request through node:http with the path sent exactly as given (fetch and `new URL` would resolve
 * `..` and `%2e%2e` before sending) and the body as given, however malformed.
 */
export function rawRequest(port, method, path, headers = {}, body) {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
            const chunks = [];
            res.on('data', (chunk) => chunks.push(chunk));
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: parse(text) });
            });
            res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
    });
}
/** Writes raw bytes to the server and reads until it closes the connection: for what no HTTP client will send. */
export function rawExchange(port, bytes) {
    return new Promise((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1');
        const chunks = [];
        socket.on('data', (chunk) => chunks.push(chunk));
        socket.on('error', reject);
        socket.on('close', () => {
            const raw = Buffer.concat(chunks).toString('latin1');
            const [head = '', ...rest] = raw.split('\r\n\r\n');
            const [statusLine = '', ...lines] = head.split('\r\n');
            const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
            resolve({ raw, status: Number(statusLine.split(' ')[1]), headers, json: parse(rest.join('\r\n\r\n')) });
        });
        socket.end(bytes);
    });
}
//# sourceMappingURL=http.js.map