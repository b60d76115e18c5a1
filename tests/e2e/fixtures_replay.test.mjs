// Every OpenAI chat fixture (tests/testdata/providers/openai) replayed through aimarket: the SDK
// sees the same content, tool calls, refusals, finish reasons and usage as the captured answer,
// and the same status, type, code and Retry-After for captured errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, ADMIN_KEY, manifest, fixtureText } from './harness.mjs';

const fixtures = manifest('openai').fixtures.filter(
  (f) => f.path === '/v1/chat/completions' && !f.response.includes(','),
);
let gw;
let client;

before(async () => {
  gw = await startGateway(
    fixtures.map((f) => ({ name: `fx-${f.name}`, deployments: [{ provider: 'mock', model: `fixture/openai/${f.name}?chunk_bytes=23` }] })),
  );
  client = new OpenAI({ apiKey: ADMIN_KEY, baseURL: gw.baseURL, maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
});

// Folds chat.completion.chunk objects into per-choice {content, refusal, tool_calls, finish_reason}.
function fold(chunks) {
  const choices = new Map();
  let usage = null;
  for (const chunk of chunks) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices ?? []) {
      const s = choices.get(c.index) ?? { content: '', refusal: '', tool_calls: [], finish_reason: null };
      s.content += c.delta?.content ?? '';
      s.refusal += c.delta?.refusal ?? '';
      for (const tc of c.delta?.tool_calls ?? []) {
        const t = (s.tool_calls[tc.index] ??= { id: '', name: '', arguments: '' });
        t.id += tc.id ?? '';
        t.name += tc.function?.name ?? '';
        t.arguments += tc.function?.arguments ?? '';
      }
      s.finish_reason = c.finish_reason ?? s.finish_reason;
      choices.set(c.index, s);
    }
  }
  return { choices: [...choices.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]), usage };
}

function fromMessage(resp) {
  return {
    choices: resp.choices.map((c) => ({
      content: c.message.content ?? '',
      refusal: c.message.refusal ?? '',
      tool_calls: (c.message.tool_calls ?? []).map((t) => ({ id: t.id, name: t.function.name, arguments: t.function.arguments })),
      finish_reason: c.finish_reason,
    })),
    usage: resp.usage ?? null,
  };
}

function parseSse(text) {
  return text
    .split(/\r?\n\r?\n/)
    .map((e) => e.replace(/^data: ?/, '').trim())
    .filter((d) => d && d !== '[DONE]')
    .map((d) => JSON.parse(d));
}

for (const f of fixtures) {
  test(`fixture ${f.name}`, async () => {
    const model = `fx-${f.name}`;
    const messages = [{ role: 'user', content: 'replay' }];
    const body = fixtureText('openai', f.response);
    if (f.status === 401 || f.status === 403) {
      // The operator's key refused upstream: the gateway's own 502, not the client's 401 nor
      // OpenAI's words (which may quote the key).
      const upstream = JSON.parse(body).error;
      await assert.rejects(client.chat.completions.create({ model, messages }), (e) => {
        assert.ok(e instanceof OpenAI.APIError, String(e));
        assert.equal(e.status, 502);
        assert.equal(e.type, 'server_error');
        assert.equal(e.code, 'upstream_auth_failed');
        assert.match(e.error.message, /refused the gateway's credentials/);
        assert.notEqual(e.error.message, upstream.message);
        return true;
      });
      return;
    }
    if (f.status !== 200) {
      const expected = JSON.parse(body).error;
      await assert.rejects(client.chat.completions.create({ model, messages }), (e) => {
        assert.ok(e instanceof OpenAI.APIError, String(e));
        assert.equal(e.status, f.status);
        assert.equal(e.type, expected.type);
        assert.equal(e.code, expected.code);
        assert.equal(e.param, expected.param);
        assert.equal(e.error.message, expected.message);
        if (f.headers?.['retry-after']) assert.equal(e.headers.get('retry-after'), f.headers['retry-after']);
        return true;
      });
      return;
    }
    if (f.response.endsWith('.sse')) {
      const stream = await client.chat.completions.create({
        model,
        messages,
        stream: true,
        stream_options: { include_usage: true },
      });
      const got = [];
      for await (const chunk of stream) got.push(chunk);
      assert.deepEqual(fold(got), fold(parseSse(body)));
      assert.ok(fold(got).choices.length > 0);
    } else {
      const resp = await client.chat.completions.create({ model, messages });
      assert.deepEqual(fromMessage(resp), fromMessage(JSON.parse(body)));
    }
  });
}
