// A second copy of @kiln/tensor (npm's answer to a version mismatch) is reported at start-up,
// naming both places, instead of failing later with "expected a Tensor".
import { afterEach, describe, expect, it } from 'vitest';
import { exp, init, loadedTensorCopies } from '../src/index.js';

const REGISTRY = Symbol.for('@kiln/tensor: loaded copies');
const FAKE = 'file:///app/node_modules/@kiln/autograd/node_modules/@kiln/tensor/dist/tensor.js';
const registry = () => (globalThis as unknown as Record<symbol, Set<string>>)[REGISTRY];

afterEach(() => {
  registry().delete(FAKE);
});

describe('a second copy of @kiln/tensor', () => {
  it('is one copy when the package is loaded once (re-evaluation of the same file is the same copy)', () => {
    expect(loadedTensorCopies()).toHaveLength(1);
    expect(loadedTensorCopies()[0]).toMatch(/tensor\.(ts|js)$/);
  });

  it('makes init refuse to start, naming both copies and the fix', async () => {
    registry().add(FAKE);
    const error = await init({ backend: 'cpu' }).then(
      () => null,
      (e: Error) => e,
    );
    expect(error?.message).toContain('@kiln/tensor is loaded 2 times');
    expect(error?.message).toContain(FAKE);
    expect(error?.message).toContain('npm ls @kiln/tensor');
  });

  it('is named by the errors it causes', async () => {
    await init({ backend: 'cpu' });
    registry().add(FAKE);
    // what a tensor from the other copy looks like to this one: an object that is not a Tensor
    expect(() => exp({ shape: [1] } as never)).toThrow(
      /expected a Tensor, got object \(@kiln\/tensor is loaded 2 times/,
    );
  });
});
