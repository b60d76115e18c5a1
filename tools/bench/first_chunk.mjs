// Time to the first streamed chunk over N sequential requests (keep-alive). Prints p50/p99 in us.
// Usage: node first_chunk.mjs URL KEY MODEL N
const [url, key, model, nStr] = process.argv.slice(2);
const n = Number(nStr);
const times = [];
for (let i = 0; i < n; i++) {
  const t0 = process.hrtime.bigint();
  const r = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const reader = r.body.getReader();
  await reader.read();
  times.push(Number(process.hrtime.bigint() - t0) / 1000);
  while (!(await reader.read()).done);
}
times.sort((a, b) => a - b);
const q = (p) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))];
console.log(`FIRST p50_us=${q(50).toFixed(0)} p99_us=${q(99).toFixed(0)}`);
