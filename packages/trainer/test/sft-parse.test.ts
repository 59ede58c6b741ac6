// Conversation JSONL: both formats, every kind of bad line named with its file and line, and
// skipping bad lines with a count.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChatDataError, checkChatExample, parseChatJsonl } from '../src/index.js';
import { readChatJsonl } from '../src/node.js';

const chat = (messages: unknown) => JSON.stringify({ messages });
const good = chat([
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello!' },
]);

describe('parseChatJsonl', () => {
  it('reads messages and prompt-completion lines, skipping blank lines, CRLF and a BOM', () => {
    const text = `\uFEFF${good}\r\n\n  \n${JSON.stringify({ prompt: '2+2=', completion: '4', id: 7 })}\n`;
    const { examples, lines, skipped } = parseChatJsonl(text, { source: 'a.jsonl' });
    expect(examples).toEqual([
      {
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello!' },
        ],
      },
      { prompt: '2+2=', completion: '4' }, // the extra "id" column is dropped
    ]);
    expect(lines).toEqual([1, 4]);
    expect(skipped).toEqual([]);
  });

  it("joins OpenAI's text content parts and ignores extra message keys", () => {
    const { examples } = parseChatJsonl(
      chat([
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Hel' },
            { type: 'text', text: 'lo' },
          ],
          name: 'x',
        },
        { role: 'assistant', content: 'Hi' },
      ]),
    );
    expect(examples[0]).toEqual({
      messages: [
        { role: 'user', content: 'Hello' },
        { role: 'assistant', content: 'Hi' },
      ],
    });
  });

  const bad: [string, string, RegExp][] = [
    ['invalid JSON', '{"messages": [', /invalid JSON .*\{"messages": \[/],
    ['not an object', '[1, 2]', /expected an object .* got an array/],
    [
      'unknown role',
      chat([
        { role: 'bot', content: 'x' },
        { role: 'assistant', content: 'y' },
      ]),
      /message 1 has unknown role "bot"; roles are system, user, assistant/,
    ],
    ['no role', chat([{ content: 'x' }]), /message 1 has no "role"/],
    ['no assistant turn', chat([{ role: 'user', content: 'x' }]), /has no assistant turn/],
    [
      'empty content',
      chat([
        { role: 'user', content: 'x' },
        { role: 'assistant', content: '  ' },
      ]),
      /message 2 \(assistant\) has empty content/,
    ],
    [
      'missing content',
      chat([{ role: 'user' }, { role: 'assistant', content: 'y' }]),
      /message 1 \(user\) has no "content"/,
    ],
    [
      'content not text',
      chat([
        { role: 'user', content: 3 },
        { role: 'assistant', content: 'y' },
      ]),
      /"content" must be a string, got a number/,
    ],
    [
      'non-text part',
      chat([
        { role: 'user', content: [{ type: 'image_url' }] },
        { role: 'assistant', content: 'y' },
      ]),
      /content part 1 is not \{ "type": "text"/,
    ],
    ['messages not an array', '{"messages": "hi"}', /"messages" must be an array, got a string/],
    ['empty messages', '{"messages": []}', /"messages" is empty/],
    ['missing completion', '{"prompt": "q"}', /has "prompt" but no "completion"/],
    ['missing prompt', '{"completion": "a"}', /has "completion" but no "prompt"/],
    ['empty completion', '{"prompt": "q", "completion": ""}', /"completion" is empty/],
    ['prompt not a string', '{"prompt": 1, "completion": "a"}', /"prompt" must be a string, got a number/],
    [
      'both formats',
      '{"messages": [], "prompt": "q", "completion": "a"}',
      /has both "messages" and "prompt"/,
    ],
    [
      'neither format',
      '{"text": "hello"}',
      /has neither "messages" nor "prompt" \+ "completion" \(keys: text\)/,
    ],
  ];

  it.each(bad)('names the file and line of a line with %s', (_kind, line, reason) => {
    const text = `${good}\n\n${line}\n${good}\n`;
    let error: unknown;
    try {
      parseChatJsonl(text, { source: 'data/train.jsonl' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ChatDataError);
    const e = error as ChatDataError;
    expect(e.source).toBe('data/train.jsonl');
    expect(e.line).toBe(3);
    expect(e.message.startsWith('data/train.jsonl:3: ')).toBe(true);
    expect(e.reason).toMatch(reason);
  });

  it('skips bad lines with skipInvalid and lists each with its line and reason', () => {
    const text = [good, '{oops', good, chat([{ role: 'user', content: 'x' }]), good].join('\n');
    const { examples, lines, skipped } = parseChatJsonl(text, { skipInvalid: true });
    expect(examples).toHaveLength(3);
    expect(lines).toEqual([1, 3, 5]);
    expect(skipped.map((s) => s.line)).toEqual([2, 4]);
    expect(skipped[0].reason).toMatch(/invalid JSON/);
    expect(skipped[1].reason).toMatch(/no assistant turn/);
  });

  it('is an error when there is no valid example, even with skipInvalid', () => {
    expect(() => parseChatJsonl('\n\n', { source: 'e.jsonl' })).toThrow(
      /^e\.jsonl: no examples: it is empty/,
    );
    expect(() => parseChatJsonl('{x\n[1]', { source: 'b.jsonl', skipInvalid: true })).toThrow(
      /b\.jsonl: no examples: all 2 lines are invalid \(line 1: invalid JSON/,
    );
  });

  it('accepts more roles when asked (e.g. tool)', () => {
    const line = chat([
      { role: 'tool', content: '{"t": 20}' },
      { role: 'assistant', content: 'It is 20 degrees.' },
    ]);
    expect(() => parseChatJsonl(line)).toThrow(/unknown role "tool"/);
    expect(parseChatJsonl(line, { roles: ['user', 'assistant', 'tool'] }).examples).toHaveLength(1);
  });

  it('checkChatExample runs the same checks on examples built in code', () => {
    expect(() => checkChatExample({ messages: [{ role: 'user', content: 'x' }] })).toThrow(
      /no assistant turn/,
    );
    expect(checkChatExample({ prompt: 'a', completion: 'b', extra: 1 })).toEqual({
      prompt: 'a',
      completion: 'b',
    });
  });
});

describe('readChatJsonl', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-sft-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file and names it in errors', async () => {
    const path = join(dir, 'train.jsonl');
    writeFileSync(path, `${good}\n{"prompt": "q", "completion": ""}\n`);
    await expect(readChatJsonl(path)).rejects.toThrow(`${path}:2: "completion" is empty`);
    const { examples, skipped } = await readChatJsonl(path, { skipInvalid: true });
    expect(examples).toHaveLength(1);
    expect(skipped).toEqual([{ line: 2, reason: '"completion" is empty (there is nothing to train on)' }]);
    await expect(readChatJsonl(join(dir, 'missing.jsonl'))).rejects.toThrow(/cannot read .*missing\.jsonl/);
  });
});
