// Starts the real parts for an end-to-end test: a fresh database on the test Postgres, the mock
// provider, and aimarketd with all services, on free ports. Paths come from ctest's environment.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const BIN = process.env.AIMARKET_BIN_DIR;
export const SOURCE = process.env.AIMARKET_SOURCE_DIR;
export const FIXTURES = path.join(SOURCE, 'tests/testdata/providers');
export const ADMIN_KEY = 'sk-aim-e2e-admin-key-0123456789';

// A port for a server under test, the same way the C++ tests pick theirs (tests/util/process.cc):
// outside the kernel's ephemeral range, where outgoing connections take their ports (a port picked
// with listen(0) and released can be taken by one before the server binds it), and claimed by a
// file that keeps other test processes from picking it until this one exits.
const CLAIM_DIR = path.join(process.env.TMPDIR || '/tmp', `aimarket-test-ports-${process.getuid()}`);
const claimed = [];
process.on('exit', () => {
  for (const port of claimed) {
    try { unlinkSync(path.join(CLAIM_DIR, String(port))); } catch {}
  }
});

function claimPort(port) {
  const file = path.join(CLAIM_DIR, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch (e) {
      if (e.code !== 'EEXIST') return true; // no claims possible here: the bind check alone must do
    }
    const owner = Number.parseInt(readFileSync(file, 'utf8'), 10);
    try {
      if (owner > 0) { process.kill(owner, 0); return false; }
    } catch (e) {
      if (e.code !== 'ESRCH') return false;
    }
    try { unlinkSync(file); } catch {}
  }
  return false;
}

function canListen(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export async function freePort() {
  let [lo, hi] = [32768, 60999];
  try {
    [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  } catch {}
  const bands = [];
  if (65535 - hi >= 1000) bands.push([hi + 1, 65535]);
  if (lo - 1 >= 20000) bands.push([20000, lo - 1]);
  if (bands.length === 0) bands.push([20000, 65535]);
  try {
    mkdirSync(CLAIM_DIR, { recursive: true });
  } catch {}
  for (let attempt = 0; attempt < 2000; attempt++) {
    const [first, last] = bands[Math.floor(Math.random() * bands.length)];
    const port = first + Math.floor(Math.random() * (last - first + 1));
    if (!(await canListen(port)) || !claimPort(port)) continue;
    if (!(await canListen(port))) {
      try { unlinkSync(path.join(CLAIM_DIR, String(port))); } catch {}
      continue;
    }
    claimed.push(port);
    return port;
  }
  throw new Error('no free port outside the ephemeral range');
}

async function waitFor(url, proc, what) {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}:\n${proc.output}`);
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not become ready:\n${proc.output}`);
}

function start(cmd, args, env) {
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  p.output = '';
  p.stdout.on('data', (d) => (p.output += d));
  p.stderr.on('data', (d) => (p.output += d));
  return p;
}

// models: [{name, deployments: [{provider, model}]}]; the provider "mock" is the mock provider.
// options.providers: more provider entries (YAML flow maps as objects); "@MOCK@" in a base_url
// becomes the mock's address. options.env: more environment for aimarketd (API keys).
// options.logLevel: aimarketd's log level (debug logs every request). options.yaml: more top-level
// config lines ("metering: {recovery_grace: 0s}").
export async function startGateway(models, options = {}) {
  const adminDsn = process.env.AIMARKET_TEST_PG_DSN;
  if (!adminDsn) throw new Error('AIMARKET_TEST_PG_DSN is not set; run tools/dev test');
  const dbName = `aimarket_e2e_${process.pid}_${Date.now()}`;
  execFileSync('psql', [adminDsn, '-qc', `CREATE DATABASE ${dbName}`]);
  const dsn = `${adminDsn} dbname=${dbName}`;

  const dir = mkdtempSync(path.join(tmpdir(), 'aimarket-e2e-'));
  const mockPort = await freePort();
  const mock = start(path.join(BIN, 'mock-provider'), [`--listen=127.0.0.1:${mockPort}`, `--fixtures=${FIXTURES}`], {});
  await waitFor(`http://127.0.0.1:${mockPort}/__mock/stats`, mock, 'mock-provider');

  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const yaml = [
    `server: {grpc_listen: "127.0.0.1:${grpcPort}", drain_timeout: 5s}`,
    `edge: {listen: "127.0.0.1:${httpPort}", io_threads: 2}`,
    ...(options.logLevel ? [`log: {level: ${options.logLevel}}`] : []),
    ...(options.yaml ?? []),
    'providers:',
    `  - {name: mock, type: openai, base_url: "http://127.0.0.1:${mockPort}/v1", first_byte_timeout: 10s, idle_timeout: 10s}`,
    '  - {name: dead, type: openai, base_url: "http://127.0.0.1:1/v1"}',
    ...(options.providers ?? []).map(
      (p) =>
        `  - {${Object.entries(p)
          .map(([k, v]) => `${k}: ${JSON.stringify(String(v).replace('@MOCK@', `http://127.0.0.1:${mockPort}`))}`)
          .join(', ')}}`,
    ),
    'models:',
    ...models.map(
      (m) =>
        `  - {name: ${JSON.stringify(m.name)}, deployments: [${m.deployments
          .map((d) => `{provider: ${d.provider}, model: ${JSON.stringify(d.model)}, input_per_mtok: ${d.input_per_mtok ?? 1}, output_per_mtok: ${d.output_per_mtok ?? 2}}`)
          .join(', ')}]}`,
    ),
  ].join('\n');
  const config = path.join(dir, 'aimarket.yaml');
  writeFileSync(config, yaml);
  const env = {
    AIMARKET_PG_DSN: dsn,
    AIMARKET_ADMIN_KEY: ADMIN_KEY,
    AIMARKET_INTERNAL_TOKEN: 'e2e-internal-token',
    ...(options.env ?? {}),
  };
  execFileSync(path.join(BIN, 'aimarketd'), ['migrate', `--config=${config}`], { env: { ...process.env, ...env } });
  const gw = start(path.join(BIN, 'aimarketd'), [`--config=${config}`], env);
  await waitFor(`http://127.0.0.1:${httpPort}/readyz`, gw, 'aimarketd');

  return {
    baseURL: `http://127.0.0.1:${httpPort}/v1`,
    mockURL: `http://127.0.0.1:${mockPort}`,
    // Everything aimarketd has logged so far.
    logs: () => gw.output,
    async stop() {
      for (const p of [gw, mock]) p.kill('SIGTERM');
      await Promise.all([gw, mock].map((p) => (p.exitCode !== null ? null : new Promise((r) => p.on('exit', r)))));
      rmSync(dir, { recursive: true, force: true });
      try {
        execFileSync('psql', [adminDsn, '-qc', `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`]);
      } catch {}
      if (gw.exitCode !== 0) throw new Error(`aimarketd exited with ${gw.exitCode}:\n${gw.output}`);
    },
  };
}

export function manifest(provider) {
  return JSON.parse(readFileSync(path.join(FIXTURES, provider, 'manifest.json'), 'utf8'));
}

export function fixtureText(provider, file) {
  return readFileSync(path.join(FIXTURES, provider, file), 'utf8');
}
