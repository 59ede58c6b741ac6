/**
 * Counter-based random numbers, bit-identical to `random.ts` on the CPU: element i hashes
 * (seed, counter + i) with three rounds of lowbias32. The 64-bit counter is two u32 words; the
 * low word's carry goes into the high word.
 */
import type { RandomParams, View } from '../../../backend.js';
import { SECOND_STREAM } from '../../../random.js';
import { sizeOf } from '../../../shape.js';
import type { Launch } from '../executor.js';
import { f32Bits } from '../params.js';
import {
  dtypeBuffer,
  ELEMENTWISE_WORKGROUP,
  enables,
  flatMain,
  grid2d,
  mathPrelude,
  store,
  uniforms,
} from './wgsl.js';

const HASH = `fn lowbias32(x0: u32) -> u32 {
  var x = x0;
  x = x ^ (x >> 16u);
  x = x * 0x21f0aaadu;
  x = x ^ (x >> 15u);
  x = x * 0x735a2d97u;
  x = x ^ (x >> 15u);
  return x;
}
fn random_bits(s0: u32, s1: u32, lo: u32, hi: u32) -> u32 {
  var h = lowbias32(lo ^ s0);
  h = lowbias32(h ^ s1);
  return lowbias32(h ^ hi ^ 0x9e3779b9u);
}
`;

/** Value statements per distribution; words 6 and 7 hold its two parameters. */
function drawStatements(params: RandomParams, dtype: View['dtype']): string {
  switch (params.kind) {
    case 'uniform':
      // low + range·u with one rounding (u has 24 bits): exactly the CPU's value for [0, 1)
      return `let v = fma(pf(7u), f32(bits >> 8u) * 5.9604644775390625e-8, pf(6u));`;
    case 'normal':
      // Box-Muller over two independent streams; u1 in (0, 1] keeps the log finite
      return `let bits2 = random_bits(p(1u), p(2u) ^ ${SECOND_STREAM}u, lo, hi);
  let u1 = f32((bits >> 8u) + 1u) * 5.9604644775390625e-8;
  let u2 = f32(bits2 >> 8u) * 5.9604644775390625e-8;
  let v = pf(6u) + pf(7u) * sqrt(-2.0 * log_acc(u1)) * cos(6.283185307179586 * u2);`;
    case 'randint':
      // word 7 is the range (0 means the full 2^32): low + bits mod range, wrapping like ToInt32
      return `let r = select(bits % p(7u), bits, p(7u) == 0u);
  let v = ${dtype === 'int32' ? 'bitcast<i32>(p(6u) + r)' : 'p(6u) + r'};`;
  }
}

/** Fills contiguous `out` with draws (elements counter..counter+n-1 of the stream). */
export function randomLaunch(out: View, params: RandomParams, maxWorkgroups: number): Launch {
  const n = sizeOf(out.shape);
  const counterLo = params.counter % 2 ** 32;
  const counterHi = Math.floor(params.counter / 2 ** 32);
  let a = 0;
  let b = 0;
  if (params.kind === 'uniform') {
    const low = params.low ?? 0;
    a = f32Bits(low);
    b = f32Bits((params.high ?? 1) - low);
  } else if (params.kind === 'normal') {
    a = f32Bits(params.mean ?? 0);
    b = f32Bits(params.std ?? 1);
  } else {
    const low = params.low ?? 0;
    const range = (params.high ?? 0) - low;
    a = low >>> 0;
    b = range >= 2 ** 32 ? 0 : range;
  }
  const words = [n, params.seed[0] >>> 0, params.seed[1] >>> 0, counterLo, counterHi, out.offset, a, b];
  return {
    kernel: {
      key: `random:${params.kind}:${out.dtype}`,
      access: ['read_write'],
      build:
        () => `${enables([out.dtype])}${uniforms(words.length)}${dtypeBuffer(1, 'out', 'read_write', out.dtype)}${mathPrelude(out.dtype === 'float16')}${HASH}
${flatMain(ELEMENTWISE_WORKGROUP)}
  if (idx >= p(0u)) { return; }
  let lo = p(3u) + idx;
  let hi = p(4u) + select(0u, 1u, lo < p(3u));
  let bits = random_bits(p(1u), p(2u), lo, hi);
  ${drawStatements(params, out.dtype)}
  ${params.kind === 'randint' ? 'out[p(5u) + idx] = v;' : store(out.dtype, 'out', 'p(5u) + idx', 'v')}
}
`,
    },
    params: words,
    grid: grid2d(Math.ceil(n / ELEMENTWISE_WORKGROUP), maxWorkgroups),
  };
}
