// Time to the first streamed chunk over N sequential requests on one keep-alive connection.
// Prints p50/p99 in us. A raw TCP client (no HTTP library): it times from writing the request to
// the first "data:" line, so that the client's own parsing and buffering cost the same for every
// target and stay out of the difference. The answer must be chunked (SSE), which it is for every
// target here.
// Usage: node first_chunk.mjs URL KEY MODEL N
import net from 'node:net';

const [url, key, model, nStr] = process.argv.slice(2);
const n = Number(nStr);
const u = new URL(url);
const body = JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] });
const request =
  `POST ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${key}\r\n` +
  `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

const socket = net.connect({ host: u.hostname, port: Number(u.port), noDelay: true });
await new Promise((resolve, reject) => {
  socket.once('connect', resolve);
  socket.once('error', reject);
});

let onData = null;
socket.on('data', (d) => onData(d));
socket.on('close', () => {
  if (onData) onData(null);
});

function once() {
  return new Promise((resolve, reject) => {
    let buf = '';
    let first = null;
    const t0 = process.hrtime.bigint();
    onData = (d) => {
      if (d === null) return reject(new Error('connection closed'));
      buf += d.toString('latin1');
      if (first === null && buf.includes('data:')) first = Number(process.hrtime.bigint() - t0) / 1000;
      if (buf.startsWith('HTTP/1.1 ') && !buf.startsWith('HTTP/1.1 200')) return reject(new Error(buf.split('\r\n')[0]));
      if (buf.endsWith('0\r\n\r\n')) resolve(first);
    };
    socket.write(request);
  });
}

const times = [];
for (let i = 0; i < n; i++) times.push(await once());
socket.end();
times.sort((a, b) => a - b);
const q = (p) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))];
console.log(`FIRST p50_us=${q(50).toFixed(0)} p99_us=${q(99).toFixed(0)}`);
