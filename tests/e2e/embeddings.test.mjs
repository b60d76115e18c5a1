// POST /v1/embeddings with the official SDK against every provider type that has embeddings,
// through the mock speaking each provider's own embeddings API (OpenAI /embeddings, Gemini
// batchEmbedContents, Cohere /v2/embed, Ollama /api/embed, the Hugging Face router's
// feature-extraction pipeline, TEI-style /v1/embeddings): float and base64 (the SDK's default)
// give the same vectors, inputs keep their order, dimensions are passed on; plus OpenAI's captured
// embeddings fixture, and the errors. Only OpenAI's embeddings shape is captured traffic; the
// mock's other shapes are composed from each provider's documented schema (tools/mock-provider/formats.h).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, ADMIN_KEY, fixtureText } from './harness.mjs';

const TYPES = [
  { name: 'openai', provider: { type: 'openai', base_url: '@MOCK@/v1' }, dimensions: true },
  { name: 'gemini', provider: { type: 'gemini', base_url: '@MOCK@' }, dimensions: true },
  { name: 'cohere', provider: { type: 'cohere', base_url: '@MOCK@' }, dimensions: true },
  { name: 'ollama', provider: { type: 'ollama', base_url: '@MOCK@' }, dimensions: true },
  { name: 'hf-router', provider: { type: 'huggingface', api: 'router', base_url: '@MOCK@' }, dimensions: false },
  { name: 'hf-tgi', provider: { type: 'huggingface', api: 'tgi', base_url: '@MOCK@' }, dimensions: true },
];

let gw;
let client;

before(async () => {
  const models = TYPES.map((t) => ({ name: `emb-${t.name}`, deployments: [{ provider: `p-${t.name}`, model: 'synthetic' }] }));
  models.push({ name: 'emb-fixture', deployments: [{ provider: 'p-openai', model: 'fixture/openai/embeddings' }] });
  models.push({ name: 'emb-claude', deployments: [{ provider: 'p-anthropic', model: 'claude-x' }] });
  gw = await startGateway(models, {
    providers: [
      ...TYPES.map((t) => ({ name: `p-${t.name}`, ...t.provider })),
      { name: 'p-anthropic', type: 'anthropic', base_url: '@MOCK@' },
    ],
  });
  client = new OpenAI({ apiKey: ADMIN_KEY, baseURL: gw.baseURL, maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
});

const asFloat32 = (v) => v.map((x) => Math.fround(x));

for (const t of TYPES) {
  const model = `emb-${t.name}`;
  test(`${t.name}: embeddings, float and base64 alike, in order`, async () => {
    const input = ['The food was delicious', 'and the waiter friendly', 'The food was delicious'];
    const b64 = await client.embeddings.create({ model, input }); // The SDK asks for base64 and decodes it.
    const flt = await client.embeddings.create({ model, input, encoding_format: 'float' });
    for (const r of [b64, flt]) {
      assert.equal(r.object, 'list');
      assert.equal(r.data.length, 3);
      r.data.forEach((d, i) => {
        assert.equal(d.object, 'embedding');
        assert.equal(d.index, i);
        assert.equal(d.embedding.length, 8);
      });
      assert.ok(r.usage && typeof r.usage.prompt_tokens === 'number');
    }
    for (let i = 0; i < 3; i++) assert.deepEqual(asFloat32(flt.data[i].embedding), asFloat32(b64.data[i].embedding));
    assert.deepEqual(flt.data[0].embedding, flt.data[2].embedding); // Same text, same vector.
    assert.notDeepEqual(flt.data[0].embedding, flt.data[1].embedding);
    const single = await client.embeddings.create({ model, input: 'The food was delicious', encoding_format: 'float' });
    assert.deepEqual(single.data[0].embedding, flt.data[0].embedding);
  });

  if (t.dimensions) {
    test(`${t.name}: dimensions reach the upstream`, async () => {
      const r = await client.embeddings.create({ model, input: 'x', dimensions: 4, encoding_format: 'float' });
      assert.equal(r.data[0].embedding.length, 4);
    });
  }
}

test('openai: the captured embeddings fixture', async () => {
  const expected = JSON.parse(fixtureText('openai', 'embeddings_response.json'));
  const r = await client.embeddings.create({
    model: 'emb-fixture',
    input: 'The food was delicious and the waiter...',
    encoding_format: 'float',
  });
  assert.deepEqual(asFloat32(r.data[0].embedding), asFloat32(expected.data[0].embedding));
  assert.equal(r.usage.prompt_tokens, expected.usage.prompt_tokens);
  assert.equal(r.model, expected.model);
});

test('embeddings carry the request id and aimarket\'s own overhead', async () => {
  const r = await fetch(`${gw.baseURL}/embeddings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'emb-openai', input: 'x' }),
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('x-request-id') ?? '', /.+/);
  assert.match(r.headers.get('x-aimarket-overhead-ms') ?? '', /^\d+\.\d{3}$/);
});

test('embeddings errors', async () => {
  const post = (body) =>
    fetch(`${gw.baseURL}/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, error: (await r.json()).error }));
  let r = await post({ model: 'emb-openai' });
  assert.equal(r.status, 400);
  assert.equal(r.error.param, 'input');
  r = await post({ model: 'emb-openai', input: 'x', encoding_format: 'int8' });
  assert.equal(r.status, 400);
  assert.equal(r.error.param, 'encoding_format');
  r = await post({ model: 'emb-openai', input: ['a', 3] });
  assert.equal(r.status, 400);
  assert.equal(r.error.param, 'input[1]');
  r = await post({ model: 'emb-gemini', input: [1, 2, 3] }); // Token ids: OpenAI-format upstreams only.
  assert.equal(r.status, 400);
  assert.equal(r.error.param, 'input');
  r = await post({ model: 'emb-hf-router', input: 'x', dimensions: 4 }); // The pipeline has no such option.
  assert.equal(r.status, 400);
  assert.equal(r.error.param, 'dimensions');
  r = await post({ model: 'emb-claude', input: 'x' });
  assert.equal(r.status, 400);
  assert.equal(r.error.code, 'embeddings_not_supported');
  r = await post({ model: 'no-such-model', input: 'x' });
  assert.equal(r.status, 404);
  assert.equal(r.error.code, 'model_not_found');
  const noKey = await fetch(`${gw.baseURL}/embeddings`, { method: 'POST', body: '{"model":"emb-openai","input":"x"}' });
  assert.equal(noKey.status, 401);
});
