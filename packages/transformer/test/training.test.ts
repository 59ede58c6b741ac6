/** A tiny model must learn; training steps must not leak tensors. */
import { backward, noGrad, valueAndGrad } from '@kiln/autograd';
import { manualSeed, memory, scope, type Tensor, tensor } from '@kiln/tensor';
import { describe, expect, test } from 'vitest';
import { GPT, type GPTConfig } from '../src/index.js';
import { initCpu, randomTokens } from './helpers.js';

await initCpu();

const config = (family: 'gpt2' | 'llama', extra: Partial<GPTConfig> = {}): GPTConfig => ({
  family,
  vocabSize: 32,
  contextLength: 16,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: family === 'llama' ? 2 : undefined,
  dModel: 32,
  ...extra,
});

/** One plain SGD step on (ids, targets); returns the loss before the step. */
function sgdStep(model: GPT, ids: Tensor, targets: Tensor, lr: number): Promise<number> {
  return scope(async () => {
    const [loss, grads] = valueAndGrad((m: GPT) => m.forward(ids, targets).loss!)(model);
    noGrad(() => {
      for (const [name, p] of model.namedParameters()) p.assign(p.sub(grads[name].mul(lr)));
    });
    return loss.item();
  });
}

describe.each(['gpt2', 'llama'] as const)('%s training', (family) => {
  test('overfits a short sequence in 50 SGD steps', async () => {
    manualSeed(0);
    const model = new GPT(config(family));
    const seq = randomTokens(17, 32, 42);
    const ids = tensor([seq.slice(0, 16)], { dtype: 'int32' });
    const targets = tensor([seq.slice(1)], { dtype: 'int32' });
    const losses: number[] = [];
    for (let step = 0; step < 50; step++) losses.push(await sgdStep(model, ids, targets, 0.5));
    console.log(`${family} overfit: loss ${losses[0].toFixed(3)} → ${losses[49].toFixed(3)}`);
    expect(losses[0]).toBeCloseTo(Math.log(32), 0);
    expect(losses[49]).toBeLessThan(0.25 * losses[0]); // from ln 32 ≈ 3.47 to below 0.87
    model.dispose();
    ids.dispose();
    targets.dispose();
  });
});

describe('memory', () => {
  test('forward + backward + update keeps the live tensor count flat (valueAndGrad and backward())', async () => {
    manualSeed(1);
    const model = new GPT(config('llama', { dropout: 0.1, qkNorm: true }));
    const ids = tensor([randomTokens(16, 32, 1), randomTokens(16, 32, 2)], { dtype: 'int32' });
    const targets = tensor([randomTokens(16, 32, 3), randomTokens(16, 32, 4)], { dtype: 'int32' });
    const counts: number[] = [];
    for (let step = 0; step < 4; step++) {
      await sgdStep(model, ids, targets, 0.1);
      counts.push(memory().liveTensors);
    }
    expect(new Set(counts).size).toBe(1);

    // the PyTorch-style path: loss.backward() fills p.grad
    const backwardCounts: number[] = [];
    for (let step = 0; step < 4; step++) {
      await scope(async () => {
        const { loss } = model.forward(ids, targets);
        backward(loss!);
        noGrad(() => {
          for (const p of model.parameters()) p.assign(p.sub(p.grad!.mul(0.1)));
        });
        model.zeroGrad();
        return loss!.item();
      });
      backwardCounts.push(memory().liveTensors);
    }
    expect(new Set(backwardCounts).size).toBe(1);

    // forward alone (eval) returns exactly logits and loss
    const before = memory().liveTensors;
    const out = noGrad(() => model.forward(ids, targets));
    expect(memory().liveTensors).toBe(before + 2);
    out.logits.dispose();
    out.loss!.dispose();
    model.dispose();
    ids.dispose();
    targets.dispose();
  });

  test('dropout is active in training mode only', async () => {
    manualSeed(2);
    const model = new GPT(config('gpt2', { dropout: 0.5 }));
    const ids = tensor([randomTokens(8, 32, 5)], { dtype: 'int32' });
    const logitsOf = () => scope(async () => Array.from(await model.forward(ids).logits.data()));
    const [a, b] = [await logitsOf(), await logitsOf()];
    expect(a).not.toEqual(b);
    model.eval();
    expect(await logitsOf()).toEqual(await logitsOf());
    model.dispose();
    ids.dispose();
  });

  test('forward rejects bad ids and targets with the fix in the message', () => {
    const model = new GPT(config('gpt2'));
    const ok = tensor([[1, 2, 3]], { dtype: 'int32' });
    expect(() => model.forward(tensor([[1, 2, 3]]))).toThrow(
      /ids must be an int32 tensor \[batch, time\], got float32/,
    );
    expect(() => model.forward(tensor([1, 2, 3], { dtype: 'int32' }))).toThrow(/\[batch, time\]/);
    expect(() => model.forward(tensor([Array(17).fill(1)], { dtype: 'int32' }))).toThrow(
      /17 tokens exceed contextLength 16; split the sequence into windows of at most 16/,
    );
    expect(() => model.forward(ok, tensor([[1, 2]], { dtype: 'int32' }))).toThrow(
      /targets must be int32 \[1,3\] like ids/,
    );
    expect(() => model.forward(tensor([[1, 32]], { dtype: 'int32' }))).toThrow(
      /GPT\.forward: ids\[0, 1\] = 32 is not a token id in \[0, 32\)/,
    );
    const allIgnored = model.forward(ok, tensor([[-100, -100, -100]], { dtype: 'int32' }));
    return allIgnored.loss!.item().then((v) => expect(v).toBeNaN());
  });
});
