// Tokenizing conversations: which targets are trained (hand-counted on ChatML and Llama 3 with a
// byte tokenizer, whose ids are the characters' bytes), the next-token shift, prompt-completion
// layouts, truncation counts, and data that leaves nothing to train on.
import { CHATML_TEMPLATE, LLAMA3_TEMPLATE } from '@kiln/tokenizer';
import { describe, expect, it } from 'vitest';
import { generationPrompts, nextTokenTargets, tokenizeChats } from '../src/index.js';
import { bytes, byteTokenizer, CHATML_SPECIALS, LLAMA3_SPECIALS } from './helpers/chat-tokenizer.js';

const chatml = await byteTokenizer([...CHATML_SPECIALS, '<|endoftext|>']); // 256, 257, 258
const llama = await byteTokenizer(LLAMA3_SPECIALS); // 256 … 259
const [IM_START, IM_END, EOT_TEXT] = [256, 257, 258];
const hiOk = {
  messages: [
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: 'ok' },
  ],
};
const o = 111;
const k = 107;

/** -100 everywhere except the given positions. */
function targetsWith(length: number, trained: Record<number, number>): number[] {
  const t = new Array(length).fill(-100);
  for (const [i, id] of Object.entries(trained)) t[Number(i)] = id;
  return t;
}

describe('nextTokenTargets', () => {
  it('position t gets token t + 1 when that token is trained', () => {
    expect(Array.from(nextTokenTargets([5, 6, 7, 8, 9], [0, 0, 1, 1, 0]))).toEqual([-100, 7, 8, -100, -100]);
    expect(Array.from(nextTokenTargets([5, 6], [1, 1]))).toEqual([6, -100]); // the first token is never a target
  });
});

describe('tokenizeChats', () => {
  it('ChatML: trains the assistant content and <|im_end|>, not the prompt, the header or the newline after', () => {
    const { sequences, trainedTokens, tokens } = tokenizeChats([hiOk], chatml, {
      template: 'chatml',
      maxLength: 64,
    });
    // <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nok<|im_end|>\n
    //  0           1-5   6-7 8       9  10          11-20      21-22 23   24
    const ids = [IM_START, ...bytes('user\nhi'), IM_END, 10, IM_START, ...bytes('assistant\nok'), IM_END, 10];
    expect(Array.from(sequences[0].ids)).toEqual(ids);
    expect(Array.from(sequences[0].targets)).toEqual(targetsWith(25, { 20: o, 21: k, 22: IM_END }));
    expect(sequences[0].trainedTokens).toBe(3);
    expect([tokens, trainedTokens]).toEqual([25, 3]);
  });

  it('ChatML: every assistant turn of a multi-turn conversation is trained, system and user turns are not', () => {
    const example = {
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: 'c' },
        { role: 'assistant', content: 'd' },
      ],
    };
    const [seq] = tokenizeChats([example], chatml, { maxLength: 128 }).sequences;
    const turn = (role: string, text: string) => [IM_START, ...bytes(`${role}\n${text}`), IM_END, 10];
    const ids = [
      ...turn('system', 's'),
      ...turn('user', 'a'),
      ...turn('assistant', 'b'),
      ...turn('user', 'c'),
      ...turn('assistant', 'd'),
    ];
    expect(Array.from(seq.ids)).toEqual(ids);
    // turns are 11, 9, 14, 9, 14 tokens long; an assistant turn's content sits at offset 11 of it
    const b = 11 + 9 + 11;
    const d = 11 + 9 + 14 + 9 + 11;
    expect(ids[b]).toBe(98); // 'b'
    expect(ids[d]).toBe(100); // 'd'
    expect(Array.from(seq.targets)).toEqual(
      targetsWith(ids.length, { [b - 1]: 98, [b]: IM_END, [d - 1]: 100, [d]: IM_END }),
    );
  });

  it('Llama 3: trains the assistant content and <|eot_id|>, not <|begin_of_text|> or the headers', () => {
    const example = {
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: 'q' },
        { role: 'assistant', content: 'a' },
      ],
    };
    const [seq] = tokenizeChats([example], llama, { template: 'llama3', maxLength: 64 }).sequences;
    const [BOT, SH, EH, EOT] = [256, 257, 258, 259];
    // 0 BOT | 1 SH 2-7 system 8 EH 9-10 \n\n 11 s 12 EOT | 13 SH 14-17 user 18 EH 19-20 \n\n 21 q 22 EOT |
    // 23 SH 24-32 assistant 33 EH 34-35 \n\n 36 a 37 EOT
    const ids = [
      BOT,
      SH,
      ...bytes('system'),
      EH,
      ...bytes('\n\ns'),
      EOT,
      SH,
      ...bytes('user'),
      EH,
      ...bytes('\n\nq'),
      EOT,
      SH,
      ...bytes('assistant'),
      EH,
      ...bytes('\n\na'),
      EOT,
    ];
    expect(Array.from(seq.ids)).toEqual(ids);
    expect(Array.from(seq.targets)).toEqual(targetsWith(38, { 35: 97, 36: EOT }));
    // the same template given as an object
    const [same] = tokenizeChats([example], llama, { template: LLAMA3_TEMPLATE, maxLength: 64 }).sequences;
    expect(Array.from(same.targets)).toEqual(Array.from(seq.targets));
  });

  it("prompt-completion 'chat' is the user/assistant exchange through the template", () => {
    const [pc] = tokenizeChats([{ prompt: 'hi', completion: 'ok' }], chatml, { maxLength: 64 }).sequences;
    const [conv] = tokenizeChats([hiOk], chatml, { maxLength: 64 }).sequences;
    expect(Array.from(pc.ids)).toEqual(Array.from(conv.ids));
    expect(Array.from(pc.targets)).toEqual(Array.from(conv.targets));
  });

  it("prompt-completion 'raw' is prompt + completion + EOS, trained on the completion and the EOS", () => {
    const [seq] = tokenizeChats([{ prompt: 'hi', completion: 'ok' }], chatml, {
      promptCompletion: 'raw',
      maxLength: 64,
    }).sequences;
    expect(Array.from(seq.ids)).toEqual([104, 105, o, k, EOT_TEXT]);
    expect(Array.from(seq.targets)).toEqual([-100, o, k, EOT_TEXT, -100]);
    expect(() =>
      tokenizeChats([{ prompt: 'hi', completion: 'ok' }], llama, { promptCompletion: 'raw', maxLength: 64 }),
    ).toThrow(/no special token "<\|endoftext\|>"; pass eosToken \(one of "<\|begin_of_text\|>"/);
    const [eot] = tokenizeChats([{ prompt: 'hi', completion: 'ok' }], llama, {
      promptCompletion: 'raw',
      eosToken: '<|eot_id|>',
      maxLength: 64,
    }).sequences;
    expect(Array.from(eot.targets)).toEqual([-100, o, k, 259, -100]);
  });

  it('truncates to maxLength, counting examples and tokens cut; the last kept target may be the first cut token', () => {
    const at = (maxLength: number) => tokenizeChats([hiOk], chatml, { maxLength });
    const cut22 = at(22);
    expect(Array.from(cut22.sequences[0].ids)).toEqual(Array.from(at(64).sequences[0].ids.slice(0, 22)));
    expect(Array.from(cut22.sequences[0].targets)).toEqual(targetsWith(22, { 20: o, 21: k }));
    expect(cut22).toMatchObject({
      truncated: 1,
      truncatedTokens: 3,
      dropped: 0,
      tokens: 22,
      trainedTokens: 2,
    });
    expect(cut22.sequences[0].truncated).toBe(true);
    expect(at(21).trainedTokens).toBe(1); // only "o" is left, as the target of the header's newline
    expect(at(25)).toMatchObject({ truncated: 0, truncatedTokens: 0, trainedTokens: 3 });
  });

  it('drops and counts sequences whose trained tokens were all cut off', () => {
    const long = {
      messages: [
        { role: 'user', content: 'x'.repeat(40) },
        { role: 'assistant', content: 'y' },
      ],
    };
    const result = tokenizeChats([long, hiOk, long], chatml, { maxLength: 30 });
    expect(result).toMatchObject({ truncated: 2, dropped: 2, droppedExamples: [0, 2], trainedTokens: 3 });
    expect(result.sequences.map((s) => s.example)).toEqual([1]);
  });

  it('is an error, saying why, when every target is masked', () => {
    const long = {
      messages: [
        { role: 'user', content: 'x'.repeat(40) },
        { role: 'assistant', content: 'y' },
      ],
    };
    expect(() => tokenizeChats([long, long], chatml, { maxLength: 30 })).toThrow(
      /every target of all 2 examples is masked.*NaN.*beyond maxLength 30/,
    );
    const trainsTools = { ...CHATML_TEMPLATE, trainedRoles: ['tool'] };
    expect(() => tokenizeChats([hiOk], chatml, { template: trainsTools, maxLength: 64 })).toThrow(
      /every target of all 1 examples is masked.*trains none of the examples' turns: check its trainedRoles/,
    );
  });

  it('checks examples and options with clear errors', () => {
    expect(() => tokenizeChats([], chatml, { maxLength: 8 })).toThrow(/no examples/);
    expect(() => tokenizeChats([hiOk], chatml, { maxLength: 1 })).toThrow(/maxLength must be an integer ≥ 2/);
    expect(() =>
      tokenizeChats([hiOk, { messages: [{ role: 'user', content: 'x' }] }], chatml, { maxLength: 8 }),
    ).toThrow(/example 1: has no assistant turn/);
    expect(() => tokenizeChats([hiOk], llama, { template: 'chatml', maxLength: 8 })).toThrow(
      /needs the special tokens "<\|im_start\|>"/,
    );
  });
});

describe('generationPrompts', () => {
  it('is the training layout up to the last assistant answer, which becomes the reference', () => {
    const multi = {
      messages: [...hiOk.messages, { role: 'user', content: 'and?' }, { role: 'assistant', content: 'done' }],
    };
    const { prompts, references } = generationPrompts(
      [hiOk, multi, { prompt: 'hi', completion: 'ok' }],
      chatml,
    );
    const [train] = tokenizeChats([hiOk], chatml, { maxLength: 64 }).sequences;
    // up to and including "<|im_start|>assistant\n" (index 20), where training's first trained target sits
    expect(prompts[0]).toEqual(Array.from(train.ids.slice(0, 21)));
    expect(prompts[2]).toEqual(prompts[0]);
    const [full] = tokenizeChats([multi], chatml, { maxLength: 128 }).sequences;
    expect(prompts[1]).toEqual(Array.from(full.ids.slice(0, prompts[1].length)));
    expect(full.targets[prompts[1].length - 1]).toBe(bytes('d')[0]); // the next token is the answer's first
    expect(references).toEqual(['ok', 'done', 'ok']);
    const raw = generationPrompts([{ prompt: 'hi', completion: 'ok' }], chatml, { promptCompletion: 'raw' });
    expect(raw.prompts).toEqual([[104, 105]]);
  });
});
