/**
 * Which attention kernels the WebGPU backend picks (pure policy, no adapter needed): the
 * subgroup kernels only on software adapters with 8-lane subgroups and head dims whose unrolled
 * code llvmpipe compiles quickly, the one-pass backward only for float32 with one vec4 per lane
 * and 9 storage buffers (10 with a mask's ranges), and `KILN_ATTENTION_VARIANT` forcing only what
 * can run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { attentionVariant } from '../../src/backends/webgpu/kernels/attention-subgroup.js';

afterEach(() => {
  delete process.env.KILN_ATTENTION_VARIANT;
});

describe('attentionVariant', () => {
  it('lavapipe-like adapters get the subgroup kernels where they compile quickly', () => {
    expect(attentionVariant(true, true, 8, 16, 'float32', 32)).toBe('onepass');
    expect(attentionVariant(true, true, 8, 16, 'float32', 1)).toBe('onepass');
    expect(attentionVariant(true, true, 8, 8, 'float32', 32)).toBe('subgroup'); // 8 buffers
    expect(attentionVariant(true, true, 8, 16, 'float32', 33)).toBe('subgroup');
    expect(attentionVariant(true, true, 8, 16, 'float32', 64)).toBe('subgroup');
    expect(attentionVariant(true, true, 8, 16, 'float32', 65)).toBe('rows');
    expect(attentionVariant(true, true, 8, 16, 'float16', 32)).toBe('subgroup');
    expect(attentionVariant(true, true, 8, 16, 'float16', 33)).toBe('rows');
  });

  it('GPUs and adapters without 8-lane subgroups keep the row kernels', () => {
    expect(attentionVariant(false, true, 32, 16, 'float32', 32)).toBe('rows');
    expect(attentionVariant(false, true, 8, 16, 'float32', 32)).toBe('rows');
    expect(attentionVariant(true, false, 0, 16, 'float32', 32)).toBe('rows');
    expect(attentionVariant(true, true, 4, 16, 'float32', 32)).toBe('rows');
  });

  it('a mask with ranges needs one more storage buffer for the one-pass backward', () => {
    expect(attentionVariant(true, true, 8, 9, 'float32', 32)).toBe('onepass');
    expect(attentionVariant(true, true, 8, 9, 'float32', 32, true)).toBe('subgroup');
    expect(attentionVariant(true, true, 8, 10, 'float32', 32, true)).toBe('onepass');
    process.env.KILN_ATTENTION_VARIANT = 'onepass';
    expect(attentionVariant(true, true, 8, 9, 'float32', 32, true)).toBe('subgroup');
  });

  it('KILN_ATTENTION_VARIANT forces a variant only where it can run', () => {
    process.env.KILN_ATTENTION_VARIANT = 'rows';
    expect(attentionVariant(true, true, 8, 16, 'float32', 32)).toBe('rows');
    process.env.KILN_ATTENTION_VARIANT = 'subgroup';
    expect(attentionVariant(false, true, 32, 16, 'float32', 32)).toBe('subgroup');
    expect(attentionVariant(true, true, 8, 16, 'float32', 128)).toBe('rows');
    process.env.KILN_ATTENTION_VARIANT = 'onepass';
    expect(attentionVariant(false, true, 32, 16, 'float32', 16)).toBe('onepass');
    expect(attentionVariant(true, true, 8, 16, 'float16', 16)).toBe('subgroup');
    expect(attentionVariant(true, true, 8, 16, 'float32', 64)).toBe('subgroup');
  });
});
