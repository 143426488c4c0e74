// End to end: the official openai npm SDK, unchanged, pointed at swapgate, which
// forwards to a swapgate-sim child process. Run with `node --test tests/e2e/`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const swapgateBin = process.env.SWAPGATE_BIN ?? join(root, 'build', 'bin', 'swapgate');
const simBin = process.env.SWAPGATE_SIM_BIN ?? join(root, 'build', 'bin', 'swapgate-sim');
const children = [];

// Starts a server and resolves with the port from its {"event":"listening"} line.
function startServer(bin, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
    children.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${bin} did not start:\n${out}`)), 20000);
    const onData = (d) => {
      out += d.toString();
      const m = out.match(/"event":"listening".*"port":(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => { out += d.toString(); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${bin} exited with ${code}:\n${out}`)); });
  });
}

let client;

before(async () => {
  const simPort = await startServer(simBin, [
    '--listen', '127.0.0.1:0', '--quiet',
    '--model', 'demo-chat', '--model', 'demo-embed,dims=64',
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'swapgate-e2e-'));
  const config = join(dir, 'swapgate.yaml');
  writeFileSync(config, `listen: 127.0.0.1:0
auth:
  api_keys: [sk-e2e-test]
backends:
  sim:
    url: http://127.0.0.1:${simPort}/v1
    timeouts: {first_byte: 5s, idle: 500ms}
models:
  - {name: chat, aliases: [fast], backend: sim, upstream_model: demo-chat}
  - {name: embed, backend: sim, upstream_model: demo-embed}
`);
  const port = await startServer(swapgateBin, ['--config', config, '--threads', '2']);
  // Exactly what an app does: the SDK with OPENAI_BASE_URL pointing at swapgate.
  client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'sk-e2e-test', maxRetries: 0 });
});

after(() => {
  for (const c of children) c.kill('SIGKILL');
});

test('chat completion, not streamed', async () => {
  const r = await client.chat.completions.create({
    model: 'fast',
    messages: [{ role: 'user', content: 'Say hello' }],
    temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.ok(r.usage.completion_tokens > 0);
});

test('chat completion, streamed, with usage', async () => {
  const stream = await client.chat.completions.create({
    model: 'chat',
    messages: [{ role: 'user', content: 'Say hello' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let chunks = 0;
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    chunks += 1;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta?.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(chunks > 3, `only ${chunks} chunks`);
  assert.ok(text.length > 0);
  assert.ok(['stop', 'length'].includes(finish));
  assert.ok(usage && usage.completion_tokens > 0, 'usage chunk missing');
  // The same request not streamed gives the same text: the sim is deterministic.
  const whole = await client.chat.completions.create({
    model: 'chat',
    messages: [{ role: 'user', content: 'Say hello' }],
  });
  assert.equal(whole.choices[0].message.content, text);
});

test('embeddings', async () => {
  const r = await client.embeddings.create({ model: 'embed', input: ['red apples', 'green apples'] });
  assert.equal(r.data.length, 2);
  assert.equal(r.data[0].embedding.length, 64);
  assert.equal(r.data[1].index, 1);
});

test('models.list shows names and aliases', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids.sort(), ['chat', 'embed', 'fast']);
});

test('an unknown model surfaces as the SDK NotFoundError with status 404', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `got ${err.constructor.name}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'model_not_found');
      return true;
    },
  );
});

test('a wrong key surfaces as AuthenticationError', async () => {
  const bad = new OpenAI({ baseURL: client.baseURL, apiKey: 'nope', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (err) => err instanceof OpenAI.AuthenticationError && err.status === 401);
});

test('a stream the backend stalls ends in an SDK error, not a silent finish', async () => {
  const stream = await client.chat.completions.create({
    model: 'chat',
    messages: [{ role: 'user', content: 'Say hello' }],
    stream: true,
    sim: { tokens: 20, stall_after_tokens: 2 },
  });
  let text = '';
  await assert.rejects(
    (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    })(),
    (err) => err instanceof OpenAI.APIError && /timed out/.test(err.message),
  );
  assert.ok(text.length > 0, 'the tokens before the stall were delivered');
});
