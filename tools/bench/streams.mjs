// Opens N concurrent streams to URL, waits until each has delivered its first chunk, reports, then
// holds them for HOLD_MS and aborts. Usage: node streams.mjs URL KEY MODEL N
const [url, key, model, nStr] = process.argv.slice(2);
const n = Number(nStr);
const controllers = [];
let firstChunks = 0;
const started = Date.now();
await Promise.all(
  Array.from({ length: n }, async () => {
    const ac = new AbortController();
    controllers.push(ac);
    try {
      const r = await fetch(url, {
        method: 'POST',
        signal: ac.signal,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      });
      const reader = r.body.getReader();
      await reader.read();
      firstChunks++;
      (async () => { try { while (!(await reader.read()).done); } catch {} })();
    } catch {}
  }),
);
console.log(`OPEN ${firstChunks} ${Date.now() - started}`);
// Wait for the parent to sample memory, then close everything.
await new Promise((r) => process.stdin.once('data', r));
for (const ac of controllers) ac.abort();
process.exit(0);
