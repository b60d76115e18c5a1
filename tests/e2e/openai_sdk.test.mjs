// The official OpenAI SDK and LangChain, pointed at aimarket with nothing changed but baseURL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { ChatOpenAI } from '@langchain/openai';
import { startGateway, ADMIN_KEY } from './harness.mjs';

let gw;
let client;
const expected = 'tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 tok8 tok9 tok10 tok11';

before(async () => {
  gw = await startGateway([
    { name: 'demo', deployments: [{ provider: 'mock', model: 'synthetic?tokens=12&chunks=5' }] },
    { name: 'echo', deployments: [{ provider: 'mock', model: 'synthetic?echo=1' }] },
    { name: 'weather-tool', deployments: [{ provider: 'mock', model: 'fixture/tool_call' }] },
    { name: 'weather-tool-stream', deployments: [{ provider: 'mock', model: 'fixture/tool_call_stream?chunk_bytes=17' }] },
    { name: 'failover', deployments: [{ provider: 'dead', model: 'x' }, { provider: 'mock', model: 'synthetic?tokens=12&chunks=5' }] },
  ], { yaml: ['metering: {recovery_grace: 0s}'] });
  client = new OpenAI({ apiKey: ADMIN_KEY, baseURL: gw.baseURL, maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
});

const messages = [{ role: 'user', content: 'Say something.' }];

test('chat.completions.create, plain', async () => {
  const r = await client.chat.completions.create({ model: 'demo', messages });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, expected);
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.usage.completion_tokens, 12);
});

test('streamed with for await and include_usage: the text equals the plain text', async () => {
  const stream = await client.chat.completions.create({
    model: 'demo',
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) {
      usage = chunk.usage;
      assert.deepEqual(chunk.choices, []);
    }
    for (const c of chunk.choices) {
      text += c.delta.content ?? '';
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(text, expected);
  assert.equal(finish, 'stop');
  assert.ok(chunks >= 7, `only ${chunks} chunks`);
  assert.equal(usage.completion_tokens, 12);
});

test('a stream without include_usage carries no usage chunk', async () => {
  const stream = await client.chat.completions.create({ model: 'demo', messages, stream: true });
  for await (const chunk of stream) {
    assert.ok(chunk.choices.length > 0, 'a usage-only chunk reached a client that did not ask for it');
  }
});

test('chat.completions.stream() helper and finalChatCompletion()', async () => {
  const runner = client.chat.completions.stream({ model: 'demo', messages });
  let deltas = '';
  runner.on('content', (d) => (deltas += d));
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, expected);
  assert.equal(deltas, expected);
});

test('the /v1/chat/completions/stream route always streams', async () => {
  const r = await fetch(`${gw.baseURL}/chat/completions/stream`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo', messages }),
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /text\/event-stream/);
  const body = await r.text();
  assert.ok(body.endsWith('data: [DONE]\n\n'));
});

test('tool call round trip', async () => {
  const tools = [
    {
      type: 'function',
      function: {
        name: 'GetWeatherArgs',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' }, country: { type: 'string' }, units: { type: 'string' } },
          required: ['city', 'country', 'units'],
        },
      },
    },
  ];
  const ask = [{ role: 'user', content: 'What is the weather like in Edinburgh?' }];
  const first = await client.chat.completions.create({ model: 'weather-tool', messages: ask, tools });
  const call = first.choices[0].message.tool_calls[0];
  assert.equal(first.choices[0].finish_reason, 'tool_calls');
  assert.equal(call.function.name, 'GetWeatherArgs');
  assert.equal(JSON.parse(call.function.arguments).city, 'Edinburgh');

  // The streamed variant assembles to the same call.
  const runner = client.chat.completions.stream({ model: 'weather-tool-stream', messages: ask, tools });
  const streamed = await runner.finalChatCompletion();
  assert.equal(streamed.choices[0].message.tool_calls[0].function.name, 'GetWeatherArgs');
  assert.equal(JSON.parse(streamed.choices[0].message.tool_calls[0].function.arguments).city, 'Edinburgh');

  await fetch(`${gw.mockURL}/__mock/requests`, { method: 'DELETE' });
  const followUp = [
    ...ask,
    first.choices[0].message,
    { role: 'tool', tool_call_id: call.id, content: 'Sunny, 20 degrees' },
    { role: 'user', content: 'so it is sunny' },
  ];
  const second = await client.chat.completions.create({ model: 'echo', messages: followUp, tools, seed: 7, user: 'u-1', metadata: { k: 'v' }, some_future_field: { x: 1 } });
  assert.equal(second.choices[0].message.content, 'so it is sunny');
  // The upstream received every message and field intact, only the model rewritten.
  const received = await (await fetch(`${gw.mockURL}/__mock/requests`)).json();
  const sent = JSON.parse(received.at(-1).body);
  assert.equal(sent.model, 'synthetic?echo=1');
  assert.deepEqual(sent.messages[1].tool_calls, first.choices[0].message.tool_calls);
  assert.equal(sent.messages[2].tool_call_id, call.id);
  assert.equal(sent.messages[2].content, 'Sunny, 20 degrees');
  assert.equal(sent.seed, 7);
  assert.equal(sent.user, 'u-1');
  assert.deepEqual(sent.metadata, { k: 'v' });
  assert.deepEqual(sent.some_future_field, { x: 1 });
  assert.deepEqual(sent.tools, tools);
});

test('failover: the first deployment refuses connections, the second answers', async () => {
  const r = await client.chat.completions.create({ model: 'failover', messages });
  assert.equal(r.choices[0].message.content, expected);
});

test('models.list() and models.retrieve()', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('demo'));
  assert.ok(ids.includes('echo'));
  const m = await client.models.retrieve('demo');
  assert.equal(m.id, 'demo');
  assert.equal(m.object, 'model');
});

test('errors come back as the SDK error classes', async () => {
  const bad = new OpenAI({ apiKey: 'wrong', baseURL: gw.baseURL, maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model: 'demo', messages }), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError);
    assert.equal(e.code, 'invalid_api_key');
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: 'nope', messages }), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.equal(e.code, 'model_not_found');
    assert.equal(e.param, 'model');
    return true;
  });
});

test('LangChain ChatOpenAI invoke and stream', async () => {
  const llm = new ChatOpenAI({ model: 'demo', apiKey: ADMIN_KEY, configuration: { baseURL: gw.baseURL }, maxRetries: 0 });
  const msg = await llm.invoke('Say something.');
  assert.equal(msg.content, expected);
  let text = '';
  for await (const chunk of await llm.stream('Say something.')) text += chunk.content;
  assert.equal(text, expected);
});

// A team's key with limits, made through the teams API.
async function limitedKey(settings) {
  const api = async (method, path, body) => {
    const r = await fetch(`${gw.baseURL}${path}`, {
      method,
      headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.ok(r.ok, `${method} ${path}: ${r.status} ${await r.clone().text()}`);
    return r.json();
  };
  const team = await api('POST', '/teams', { name: `sdk limits ${process.pid} ${Math.random()}`, settings });
  await api('POST', `/teams/${team.id}/members`, { user_id: 'sdk@example.com', role: 'member' });
  return (await api('POST', `/teams/${team.id}/keys`, { user_id: 'sdk@example.com' })).key;
}

test('rate limits as the SDK sees them: x-ratelimit-* headers counting down, then RateLimitError', async () => {
  const limited = new OpenAI({ apiKey: await limitedKey({ rate_limits: { requests_per_minute: 2 } }), baseURL: gw.baseURL, maxRetries: 0 });
  for (const left of ['1', '0']) {
    const { data, response } = await limited.chat.completions.create({ model: 'demo', messages }).withResponse();
    assert.equal(data.choices[0].message.content, expected);
    assert.equal(response.headers.get('x-ratelimit-limit-requests'), '2');
    assert.equal(response.headers.get('x-ratelimit-remaining-requests'), left);
    assert.match(response.headers.get('x-ratelimit-reset-requests'), /^[0-9.hms]+$/);
  }
  await assert.rejects(limited.chat.completions.create({ model: 'demo', messages }), (e) => {
    assert.ok(e instanceof OpenAI.RateLimitError, String(e));
    assert.equal(e.status, 429);
    assert.equal(e.code, 'rate_limit_exceeded');
    const retryAfter = typeof e.headers?.get === 'function' ? e.headers.get('retry-after') : e.headers['retry-after'];
    assert.ok(Number(retryAfter) >= 1, `retry-after ${retryAfter}`);
    return true;
  });
});

test('a spent budget is a 429 the SDK raises with the code budget_exceeded', async () => {
  // $0.00001: less than one worst case of a 12-token answer without max_tokens.
  const broke = new OpenAI({ apiKey: await limitedKey({ monthly_budget: 0.00001 }), baseURL: gw.baseURL, maxRetries: 0 });
  await assert.rejects(broke.chat.completions.create({ model: 'demo', messages }), (e) => {
    assert.ok(e instanceof OpenAI.RateLimitError, String(e));
    assert.equal(e.code, 'budget_exceeded');
    assert.equal(e.type, 'insufficient_quota');
    assert.match(e.message, /monthly budget of \$0\.00001/);
    return true;
  });
});
