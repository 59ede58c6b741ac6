// Token ids outside the vocabulary fail at the public call (GPT.forward, forwardCached, the
// embedding layer, generate, generateBatch) naming the id, its position and the model's
// vocabSize, with the usual cause (a tokenizer/model mismatch) — not inside an internal op.
import { tensor } from '@kiln/tensor';
import { describe, expect, it } from 'vitest';
import { Embedding, GPT, generate, generateBatch } from '../src/index.js';
import { ids, initCpu } from './helpers.js';

await initCpu();

const model = new GPT({
  family: 'gpt2',
  vocabSize: 32,
  contextLength: 16,
  nLayers: 1,
  nHeads: 2,
  dModel: 16,
});

describe('token ids out of range', () => {
  it('GPT.forward names the id, its [row, column] and vocabSize, and the tokenizer mismatch', () => {
    const call = () =>
      model.forward(
        ids([
          [1, 2, 3, 4],
          [5, 6, 7, 40],
        ]),
      );
    expect(call).toThrow(RangeError);
    expect(call).toThrow(
      /^GPT\.forward: ids\[1, 3\] = 40 is not a token id in \[0, 32\) \(the model's vocabSize is 32/,
    );
    expect(call).toThrow(/tokenizer/);
    expect(call).not.toThrow(/indexSelect/);
  });

  it('GPT.forward refuses a negative id and float ids at the call', () => {
    expect(() => model.forward(ids([[0, -3, 1]]))).toThrow(
      /GPT\.forward: ids\[0, 1\] = -3 is not a token id/,
    );
    expect(() => model.forward(tensor([[1, 2.5]]))).toThrow(
      /GPT\.forward: ids must be an int32 tensor \[batch, time\], got float32/,
    );
  });

  it('GPT.forward refuses targets outside the vocabulary but allows the ignore index', () => {
    const x = ids([[1, 2, 3]]);
    expect(() => model.forward(x, ids([[2, 32, 4]]))).toThrow(
      /GPT\.forward: targets\[0, 1\] = 32 is not a token id in \[0, 32\) \(the model's vocabSize is 32/,
    );
    expect(() => model.forward(x, ids([[2, -7, 4]]))).toThrow(/targets\[0, 1\] = -7.*ignore index -100/);
    expect(model.forward(x, ids([[2, -100, 4]])).loss).toBeDefined();
  });

  it('forwardCached checks the ids it is given', () => {
    const cache = model.createCache(1);
    expect(() => model.forwardCached(ids([[3, 99]]), cache)).toThrow(
      /GPT\.forwardCached: ids\[0, 1\] = 99 is not a token id in \[0, 32\) \(the model's vocabSize is 32/,
    );
  });

  it('the embedding layer names the id, its position and the table size', () => {
    const table = new Embedding(8, 4);
    expect(() =>
      table.forward(
        tensor(
          [
            [0, 1],
            [2, 8],
          ],
          { dtype: 'int32' },
        ),
      ),
    ).toThrow(/^Embedding: ids\[1, 1\] = 8 is outside the table of 8 rows/);
  });

  it('generate and generateBatch name the prompt, the position and vocabSize', () => {
    expect(() => generate(model, [1, 2, 32], { maxTokens: 1 })).toThrow(
      /generate: prompt\[2\] = 32 is not a token id in \[0, 32\) \(the model's vocabSize is 32.*tokenizer/,
    );
    expect(() => generate(model, [1, 2.5], { maxTokens: 1 })).toThrow(/prompt\[1\] = 2\.5/);
    expect(() => generateBatch(model, [[1], [4, 33]], { maxTokens: 1 })).toThrow(
      /generateBatch: prompts\[1\]\[1\] = 33 is not a token id in \[0, 32\) \(the model's vocabSize is 32/,
    );
  });
});
