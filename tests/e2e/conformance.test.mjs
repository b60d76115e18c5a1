// The translation conformance suite. For every provider in tests/testdata/conformance/ and every
// case in it (one per captured fixture of tests/testdata/providers/<provider>/): the official
// OpenAI SDK sends the case's OpenAI request to aimarket; aimarket translates it for a deployment
// of that provider type whose upstream is the mock, which replays the fixture; the test then checks
// the translated upstream request the mock received (method, path, auth headers, the body against
// the fixture's captured request) and what the SDK got back (content, tool calls with arguments,
// finish reason, usage, or the error's status, type, code and message).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { startGateway, ADMIN_KEY, SOURCE, fixtureText } from './harness.mjs';

const dir = path.join(SOURCE, 'tests/testdata/conformance');
const suites = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')));

const modelName = (provider, c) => `cf-${provider}-${c.fixture}`;
// A suite's fixtures folder: its own name unless it says otherwise (Ollama's OpenAI route).
const folder = (s) => s.fixtures ?? s.provider;

let gw;
let client;

before(async () => {
  const providers = [];
  const models = [];
  const env = {};
  for (const s of suites) {
    providers.push({
      name: `mock-${s.provider}`,
      type: s.config.type,
      base_url: `@MOCK@${s.config.base_path ?? ''}`,
      ...(s.config.api_key_env ? { api_key_env: s.config.api_key_env } : {}),
      ...(s.config.api ? { api: s.config.api } : {}),
    });
    if (s.config.api_key_env) env[s.config.api_key_env] = s.config.api_key;
    for (const c of s.cases) {
      models.push({
        name: modelName(s.provider, c),
        deployments: [{ provider: `mock-${s.provider}`, model: `fixture/${folder(s)}/${c.fixture}` }],
      });
    }
  }
  gw = await startGateway(models, { providers, env });
  client = new OpenAI({ apiKey: ADMIN_KEY, baseURL: gw.baseURL, maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
});

// Removes the paths in `ignore` ("a.b", "a[*].b", "a[2]") from a parsed JSON value.
function without(value, ignore) {
  const copy = structuredClone(value);
  for (const p of ignore ?? []) {
    const parts = p.match(/[^.[\]]+|\[\*\]|\[\d+\]/g);
    const drop = (v, i) => {
      if (v === null || typeof v !== 'object') return;
      const k = parts[i];
      const last = i === parts.length - 1;
      if (k === '[*]') {
        if (Array.isArray(v)) for (const e of v) last ? null : drop(e, i + 1);
        return;
      }
      const key = /^\[\d+\]$/.test(k) ? Number(k.slice(1, -1)) : k;
      if (last) {
        if (Array.isArray(v)) v.splice(key, 1);
        else delete v[key];
      } else {
        drop(v[key], i + 1);
      }
    };
    drop(copy, 0);
  }
  return copy;
}

// Tool-call arguments compare as JSON when they parse (key order and spacing aside).
const args = (a) => {
  try {
    return JSON.parse(a);
  } catch {
    return a;
  }
};

function fold(chunks) {
  const out = { content: '', reasoning_content: '', tool_calls: [], finish_reason: null, usage: null };
  for (const chunk of chunks) {
    if (chunk.usage) out.usage = chunk.usage;
    for (const c of chunk.choices ?? []) {
      out.content += c.delta?.content ?? '';
      out.reasoning_content += c.delta?.reasoning_content ?? '';
      for (const tc of c.delta?.tool_calls ?? []) {
        const t = (out.tool_calls[tc.index] ??= { id: '', name: '', arguments: '' });
        t.id += tc.id ?? '';
        t.name += tc.function?.name ?? '';
        t.arguments += tc.function?.arguments ?? '';
      }
      out.finish_reason = c.finish_reason ?? out.finish_reason;
    }
  }
  return out;
}

function fromMessage(resp) {
  const c = resp.choices[0];
  return {
    content: c.message.content ?? '',
    reasoning_content: c.message.reasoning_content ?? '',
    tool_calls: (c.message.tool_calls ?? []).map((t) => ({ id: t.id, name: t.function.name, arguments: t.function.arguments })),
    finish_reason: c.finish_reason,
    usage: resp.usage,
  };
}

function checkAnswer(got, expect) {
  assert.equal(got.content, expect.content);
  // A provider's reasoning reaches the client apart from the answer, and only where there is some.
  assert.equal(got.reasoning_content, expect.reasoning_content ?? '');
  if (!expect.stream_error) assert.equal(got.finish_reason, expect.finish_reason);
  // Ids the provider gave are kept; where it gives none (Gemini, Ollama) aimarket makes them.
  assert.deepEqual(
    got.tool_calls.map((t, i) => ({ id: expect.tool_calls[i]?.id ? t.id : '', name: t.name, arguments: args(t.arguments) })),
    expect.tool_calls.map((t) => ({ id: t.id ?? '', name: t.name, arguments: args(t.arguments) })),
  );
  for (const t of got.tool_calls) assert.ok(t.id, 'every tool call has an id');
  assert.equal(new Set(got.tool_calls.map((t) => t.id)).size, got.tool_calls.length, 'tool-call ids are unique');
  if (expect.usage) {
    assert.ok(got.usage, 'usage is reported');
    assert.equal(got.usage.prompt_tokens, expect.usage.prompt_tokens);
    assert.equal(got.usage.completion_tokens, expect.usage.completion_tokens);
    assert.equal(got.usage.total_tokens, expect.usage.total_tokens);
    assert.equal(got.usage.prompt_tokens_details?.cached_tokens ?? 0, expect.usage.cached_tokens ?? 0);
    if (expect.usage.reasoning_tokens !== undefined) {
      assert.equal(got.usage.completion_tokens_details?.reasoning_tokens ?? 0, expect.usage.reasoning_tokens);
    }
  }
}

async function lastUpstreamRequest() {
  const r = await fetch(`${gw.mockURL}/__mock/requests`);
  const all = await r.json();
  assert.ok(all.length > 0, 'the mock received a request');
  return all[all.length - 1];
}

for (const s of suites) {
  for (const c of s.cases) {
    test(`${s.provider} ${c.fixture}`, async () => {
      await fetch(`${gw.mockURL}/__mock/requests`, { method: 'DELETE' });
      const model = modelName(s.provider, c);
      const request = { ...c.openai, model };
      if (request.stream) request.stream_options = { include_usage: true };

      if (c.expect.error) {
        const e = c.expect.error;
        await assert.rejects(client.chat.completions.create(request), (err) => {
          assert.ok(err instanceof OpenAI.APIError, String(err));
          assert.equal(err.status, e.status);
          assert.equal(err.type, e.type);
          assert.equal(err.code, e.code);
          assert.equal(err.error.message, e.message);
          assert.ok('param' in err.error, 'the error has all four keys');
          if (e.retry_after) assert.equal(err.headers.get('retry-after'), e.retry_after);
          return true;
        });
      } else if (request.stream) {
        const chunks = [];
        let streamError = null;
        try {
          for await (const chunk of await client.chat.completions.create(request)) chunks.push(chunk);
        } catch (err) {
          streamError = err;
        }
        if (c.expect.stream_error) {
          // The stream ends with an error event after what came before it, and no finish reason.
          assert.ok(streamError instanceof OpenAI.APIError, String(streamError));
          assert.equal(streamError.error?.message ?? streamError.message, c.expect.stream_error.message);
          assert.equal(fold(chunks).finish_reason, null);
        } else {
          assert.equal(streamError, null, String(streamError));
        }
        checkAnswer(fold(chunks), c.expect);
      } else {
        checkAnswer(fromMessage(await client.chat.completions.create(request)), c.expect);
      }

      // What the upstream received.
      const up = await lastUpstreamRequest();
      const u = c.upstream;
      assert.equal(up.method, u.method);
      // A model in the path is one escaped segment ("fixture%2Fgemini%2Fchat"): it cannot walk the path.
      assert.equal(up.path.split('?')[0], u.path.replace('{model}', encodeURIComponent(`fixture/${folder(s)}/${c.fixture}`)));
      for (const [k, v] of Object.entries(u.headers ?? {})) assert.equal(up.headers[k], v, `header ${k}`);
      for (const q of u.query ?? []) assert.ok(up.path.includes(q), `query ${q} in ${up.path}`);
      const body = JSON.parse(up.body);
      if (u.body) {
        const expected = JSON.parse(fixtureText(folder(s), u.body));
        assert.deepEqual(without(body, u.ignore), without(expected, u.ignore));
      }
      if (u.body_model !== false && 'model' in body) assert.equal(body.model, `fixture/${folder(s)}/${c.fixture}`);
    });
  }
}
