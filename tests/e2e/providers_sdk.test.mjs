// The official OpenAI SDK and LangChain's ChatOpenAI against every provider type, through the
// mock speaking that provider's own wire format (its synthetic answers): plain, streamed, a
// streamed tool call, and a tool-call round trip (the call, then the tool's result, then the
// answer).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { ChatOpenAI } from '@langchain/openai';
import { startGateway, ADMIN_KEY } from './harness.mjs';

const TYPES = [
  { name: 'openai', provider: { type: 'openai', base_url: '@MOCK@/v1' }, tools: true },
  { name: 'anthropic', provider: { type: 'anthropic', base_url: '@MOCK@' }, tools: true },
  { name: 'gemini', provider: { type: 'gemini', base_url: '@MOCK@' }, tools: true },
  { name: 'cohere', provider: { type: 'cohere', base_url: '@MOCK@' }, tools: true },
  { name: 'ollama', provider: { type: 'ollama', base_url: '@MOCK@' }, tools: true },
  { name: 'hf-tgi', provider: { type: 'huggingface', api: 'tgi', base_url: '@MOCK@' }, tools: true },
  // Under a path prefix, so that the mock synthesizes rather than replaying its one /generate fixture.
  { name: 'hf-generate', provider: { type: 'huggingface', api: 'generate', base_url: '@MOCK@/synthetic' }, tools: false },
];
const TEXT = 'tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7'; // The mock's synthetic answer.
const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: { type: 'object', properties: { arg: { type: 'string' } }, required: ['arg'] },
    },
  },
];

let gw;
let client;

before(async () => {
  gw = await startGateway(
    TYPES.map((t) => ({ name: `sdk-${t.name}`, deployments: [{ provider: `p-${t.name}`, model: 'synthetic' }] })),
    { providers: TYPES.map((t) => ({ name: `p-${t.name}`, ...t.provider })) },
  );
  client = new OpenAI({ apiKey: ADMIN_KEY, baseURL: gw.baseURL, maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
});

const ask = [{ role: 'user', content: 'What is the weather in Paris?' }];

for (const t of TYPES) {
  const model = `sdk-${t.name}`;

  test(`${t.name}: plain`, async () => {
    const r = await client.chat.completions.create({ model, messages: ask });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.content, TEXT);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage.completion_tokens, 8);
    assert.ok(r.usage.prompt_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  test(`${t.name}: streamed`, async () => {
    const stream = await client.chat.completions.create({
      model,
      messages: ask,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish = null;
    let usage = null;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, TEXT);
    assert.equal(finish, 'stop');
    assert.equal(usage?.completion_tokens, 8);
  });

  if (!t.tools) continue;

  test(`${t.name}: streamed tool call`, async () => {
    const stream = await client.chat.completions.create({ model, messages: ask, tools: TOOLS, stream: true });
    const calls = [];
    let finish = null;
    for await (const chunk of stream) {
      for (const tc of chunk.choices[0]?.delta?.tool_calls ?? []) {
        const c = (calls[tc.index] ??= { id: '', name: '', arguments: '' });
        c.id += tc.id ?? '';
        c.name += tc.function?.name ?? '';
        c.arguments += tc.function?.arguments ?? '';
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(calls.length, 1);
    assert.ok(calls[0].id);
    assert.equal(calls[0].name, 'get_weather');
    assert.deepEqual(JSON.parse(calls[0].arguments), { arg: 'value' });
    assert.equal(finish, 'tool_calls');
  });

  test(`${t.name}: tool-call round trip`, async () => {
    const first = await client.chat.completions.create({ model, messages: ask, tools: TOOLS });
    const msg = first.choices[0].message;
    assert.equal(first.choices[0].finish_reason, 'tool_calls');
    assert.equal(msg.tool_calls.length, 1);
    const call = msg.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { arg: 'value' });
    const second = await client.chat.completions.create({
      model,
      tools: TOOLS,
      messages: [...ask, msg, { role: 'tool', tool_call_id: call.id, content: '{"celsius": 21}' }],
    });
    assert.equal(second.choices[0].finish_reason, 'stop');
    assert.equal(second.choices[0].message.content, TEXT);
  });

  test(`${t.name}: LangChain invoke and stream`, async () => {
    const llm = new ChatOpenAI({ model, apiKey: ADMIN_KEY, configuration: { baseURL: gw.baseURL }, maxRetries: 0 });
    const answer = await llm.invoke('What is the weather in Paris?');
    assert.equal(answer.content, TEXT);
    let streamed = '';
    for await (const chunk of await llm.stream('What is the weather in Paris?')) streamed += chunk.content;
    assert.equal(streamed, TEXT);
  });
}
