// serve_openai.mjs -- the official openai client against decokit serve: completions, chat, streaming, json_schema, errors.
// Usage: node serve_openai.mjs BASE_URL; prints FAIL lines and "N passed, M failed".
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.argv[2] + '/v1', apiKey: 'none', maxRetries: 0 });
let passed = 0, failed = 0;
const check = (cond, what) => { if (cond) passed++; else { failed++; console.log('FAIL: ' + what); } };

const models = await client.models.list();
check(models.data.map((m) => m.id).join(',') === 'greedy,chat', 'models.list names the pipelines');

const prompt = 'Once upon a time';
const c = await client.completions.create({ model: 'greedy', prompt, max_tokens: 24 });
check(c.choices[0].finish_reason === 'length' && c.usage.completion_tokens === 24, 'completion: ' + JSON.stringify(c));
let text = '';
for await (const ch of await client.completions.create({ model: 'greedy', prompt, max_tokens: 24, stream: true }))
  text += ch.choices[0]?.text ?? '';
check(text === c.choices[0].text, `streamed completion '${text}' is the completion '${c.choices[0].text}'`);

const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }];
const r = await client.chat.completions.create({ model: 'chat', messages, max_tokens: 12 });
check(r.object === 'chat.completion' && r.choices[0].message.role === 'assistant', 'chat: ' + JSON.stringify(r));
let reply = '', role = '';
for await (const ch of await client.chat.completions.create({ model: 'chat', messages, max_tokens: 12, stream: true })) {
  role ||= ch.choices[0]?.delta?.role ?? '';
  reply += ch.choices[0]?.delta?.content ?? '';
}
check(role === 'assistant' && reply === r.choices[0].message.content,
      `streamed chat '${reply}' is the chat '${r.choices[0].message.content}'`);

const schema = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 10 }, age: { type: 'integer', minimum: 0, maximum: 120 } },
  required: ['name', 'age'],
  additionalProperties: false,
};
const j = await client.chat.completions.create({
  model: 'chat', messages: [{ role: 'user', content: 'A person as JSON' }], max_tokens: 80,
  response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema } },
});
let obj = null;
try { obj = JSON.parse(j.choices[0].message.content); } catch (e) { /* reported below */ }
check(obj && typeof obj.name === 'string' && Number.isInteger(obj.age) && Object.keys(obj).length === 2,
      'json_schema output: ' + j.choices[0].message.content);

try {
  await client.completions.create({ model: 'no-such-model', prompt, max_tokens: 2 });
  check(false, 'an unknown model is refused');
} catch (e) {
  check(e instanceof OpenAI.NotFoundError && /no-such-model/.test(e.message), 'unknown model error: ' + e);
}
try {
  await client.completions.create({ model: 'greedy', prompt, max_tokens: 2, temperature: 9 });
  check(false, 'a bad temperature is refused');
} catch (e) {
  check(e instanceof OpenAI.BadRequestError && e.param === 'temperature', 'bad temperature error: ' + e);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
