/**
 * The register-cached form of the subgroup row kernels (kernels/rows-registers.ts): which rows
 * take it (pure, no adapter needed), and on the adapter: the same bits as the loop kernels
 * (`KILN_ROW_REGISTERS=0`) and webgpu against cpu, for softmax, log-softmax, layerNorm,
 * rmsNorm and their backward kernels (float32), and the forward kernels in float16.
 *
 * Row lengths 32, 96 and 128 are 1, 3 and 4 vec4s per lane with 8 lanes (lavapipe) and 128 is
 * 1 with 32 lanes; 160 (5 per lane with 8 lanes) keeps the loop kernels there.
 */

import type { Backend } from '@kiln/tensor';
import { layerNorm, logSoftmax, rmsNorm, scope, softmax, type Tensor } from '@kiln/tensor';
import { layerNormBackward, rmsNormBackward, softmaxBackward } from '@kiln/tensor/internal';
import { afterAll, describe, expect, it } from 'vitest';
import type { View } from '../../src/backend.js';
import { normLaunch } from '../../src/backends/webgpu/kernels/norm.js';
import { normBackwardRowsLaunch } from '../../src/backends/webgpu/kernels/norm-backward.js';
import { MAX_ROW_REGISTERS, rowRegisters } from '../../src/backends/webgpu/kernels/rows-registers.js';
import { softmaxLaunch } from '../../src/backends/webgpu/kernels/softmax.js';
import { softmaxBackwardLaunch } from '../../src/backends/webgpu/kernels/softmax-backward.js';
import { compare, gpu, make, randomSpec, shutdown, skipReason, suiteName, TOL } from './helpers.js';

afterAll(shutdown);

const ROW = { rtol: 1e-5, atol: 1e-5 };
const LENGTHS = [32, 96, 128, 160];

/** A view description for the launch builders (no storage is touched). */
function view(shape: number[], offset = 0, dtype: View['dtype'] = 'float32'): View {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { storage: null, dtype, shape, strides, offset } as unknown as View;
}

/** Runs `fn` with `KILN_ROW_REGISTERS` set to `value` (the launch builders read it per launch). */
function withRegisters<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env.KILN_ROW_REGISTERS;
  if (value === undefined) delete process.env.KILN_ROW_REGISTERS;
  else process.env.KILN_ROW_REGISTERS = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.KILN_ROW_REGISTERS;
    else process.env.KILN_ROW_REGISTERS = saved;
  }
}

const on = process.env.KILN_ROW_REGISTERS !== '0'; // =0 turns the form off (A/B runs)

describe('register-cached row kernel selection', () => {
  it('caches rows of a multiple of 4 · lanes elements, at most MAX_ROW_REGISTERS vec4s per lane', () => {
    const plan = { lanes: 8, vec: 4 } as const;
    expect(rowRegisters(plan, 32)).toBe(on ? 1 : 0);
    expect(rowRegisters(plan, 128)).toBe(on ? 4 : 0);
    expect(rowRegisters(plan, 32 * MAX_ROW_REGISTERS + 32)).toBe(0); // too long
    expect(rowRegisters(plan, 100)).toBe(0); // lanes would hold different counts
    expect(rowRegisters(plan, 0)).toBe(0);
    expect(rowRegisters({ lanes: 8, vec: 1 }, 128)).toBe(0);
    expect(rowRegisters({ lanes: 32, vec: 4 }, 512)).toBe(on ? 4 : 0);
    expect(withRegisters('0', () => rowRegisters(plan, 128))).toBe(0);
  });

  it('puts the row length in the pipeline key of every row kernel that caches', () => {
    const r = on ? 'r128' : '';
    const x = view([5, 128]);
    expect(softmaxLaunch(x, view([5, 128]), false, 65535, 8).kernel.key).toBe(`softmax:float32:sg8v4${r}`);
    expect(softmaxLaunch(view([5, 160]), view([5, 160]), true, 65535, 8).kernel.key).toBe(
      'log_softmax:float32:sg8v4',
    );
    expect(softmaxLaunch(view([5, 128], 1), view([5, 128]), false, 65535, 8).kernel.key).toBe(
      'softmax:float32:sg8v1',
    );
    expect(normLaunch(x, view([128]), null, 1e-5, view([5, 128]), true, 65535, 8).launch.kernel.key).toBe(
      `layer_norm:float32:W:sg8v4${r}`,
    );
    expect(softmaxBackwardLaunch(x, x, false, x, 65535, 8).kernel.key).toBe(
      `softmax_backward:float32:sg8v4${r}`,
    );
    const stats = view([5, 2]);
    expect(normBackwardRowsLaunch(x, null, x, 1e-5, false, x, stats, 65535, 8).kernel.key).toBe(
      `rms_norm_backward_rows:float32::sg8v4${r}`,
    );
    expect(withRegisters('0', () => softmaxLaunch(x, x, false, 65535, 8).kernel.key)).toBe(
      'softmax:float32:sg8v4',
    );
  });
});

/** Every row kernel on rows of `n`, as tensors of backend `be`. */
function rowOps(be: Backend, n: number, dtype: 'float32' | 'float16'): Tensor[] {
  const rows = 5;
  const x = make(be, randomSpec([rows, n], dtype, { seed: n, low: -4, high: 4 }));
  const g = make(be, randomSpec([rows, n], dtype, { seed: n + 1 }));
  const w = make(be, randomSpec([n], dtype, { seed: n + 2, low: 0.5, high: 1.5 }));
  const b = make(be, randomSpec([n], dtype, { seed: n + 3 }));
  const out = [softmax(x), logSoftmax(x), layerNorm(x, w, b), layerNorm(x), rmsNorm(x, w)];
  if (dtype === 'float16') return out;
  const [dx, dw, db] = layerNormBackward(x, w, g, { eps: 1e-5, bias: true });
  const [dx2] = rmsNormBackward(x, null, g, { eps: 1e-5 });
  return [
    ...out,
    softmaxBackward(softmax(x), g),
    softmaxBackward(logSoftmax(x), g, -1, true),
    dx,
    dw!,
    db!,
    dx2,
  ];
}

/** The raw bits of a float tensor's elements. */
async function bits(t: Tensor): Promise<number[]> {
  const data = await t.data();
  // float16 values convert to doubles exactly; toEqual tells -0 from +0
  if (t.dtype === 'float16') return Array.from(data);
  return Array.from(new Uint32Array(Float32Array.from(data).buffer));
}

/** Pipelines the webgpu backend has compiled so far. */
const pipelines = () => (gpu as unknown as { stats(): { pipelines: number } }).stats().pipelines;
/** Whether the subgroup row kernels, and so the cached form, run on this adapter. */
const subgroupRows =
  on && process.env.KILN_ROW_SUBGROUPS !== '0' && !!gpu?.info.features.includes('subgroups');

describe.skipIf(!!skipReason)(suiteName('webgpu register-cached row kernels'), () => {
  it('give the same bits as the loop kernels', async () => {
    for (const dtype of ['float32', 'float16'] as const) {
      for (const n of dtype === 'float16' ? [128] : LENGTHS) {
        const looped = withRegisters('0', () => scope(() => rowOps(gpu!, n, dtype)));
        const before = pipelines();
        const cached = withRegisters(undefined, () => scope(() => rowOps(gpu!, n, dtype)));
        // the cached form really ran: with subgroups, rows of 128 compile their own pipelines
        if (n === 128 && dtype === 'float32' && subgroupRows) expect(pipelines()).toBeGreaterThan(before);
        for (let i = 0; i < cached.length; i++) {
          expect(await bits(cached[i]), `${dtype} [5, ${n}] output ${i}`).toEqual(await bits(looped[i]));
        }
        for (const t of [...cached, ...looped]) t.dispose();
      }
    }
  });

  it('match the cpu', async () => {
    for (const n of LENGTHS) {
      await compare((be) => rowOps(be, n, 'float32').slice(0, 7), ROW, `float32 [5, ${n}]`);
      await compare(
        (be) => rowOps(be, n, 'float32').slice(7),
        { rtol: 1e-4, atol: 1e-5 },
        `backward [5, ${n}]`,
      );
    }
    await compare((be) => rowOps(be, 128, 'float16'), TOL.half, 'float16 [5, 128]');
  });
});
