/**
 * Cross-checks with PyTorch. The fixture was written by scripts/reference/make_safetensors_fixture.py
 * (PyTorch 1.13); the expected values below are the ones that script prints. The reverse check
 * (a Kiln-written file read by PyTorch) runs when a Python with torch is available.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, tensor } from '../src/index.js';
import { loadSafetensors, readSafetensorsFile, saveSafetensors } from '../src/node.js';
import { findTorchPython, initCpu } from './helpers.js';

const fixture = join(import.meta.dirname, 'fixtures', 'torch-reference.safetensors');
const script = join(
  import.meta.dirname,
  '..',
  '..',
  '..',
  'scripts',
  'reference',
  'make_safetensors_fixture.py',
);

const python = findTorchPython();
// Importing gpt.py must not leave __pycache__ in the repository.
const NO_BYTECODE = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };

let dir: string;
beforeAll(async () => {
  await initCpu();
  dir = await mkdtemp(join(tmpdir(), 'kiln-safetensors-torch-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('PyTorch-written fixture', () => {
  it('has the header PyTorch wrote', async () => {
    const parsed = await readSafetensorsFile(fixture);
    expect(parsed.metadata).toEqual({ format: 'pt', producer: 'make_safetensors_fixture.py' });
    expect(Object.fromEntries([...parsed.tensors].map(([name, e]) => [name, [e.dtype, e.shape]]))).toEqual({
      'bf16.values': ['BF16', [4]],
      'bool.mask': ['BOOL', [3]],
      empty: ['F32', [0, 4]],
      'f16.values': ['F16', [2, 2]],
      'f32.matrix': ['F32', [2, 3]],
      'f64.third': ['F64', [1]],
      'i32.ids': ['I32', [2, 2]],
      'i64.ids': ['I64', [4]],
      scalar: ['F32', []],
      'u8.bytes': ['U8', [3]],
    });
  });

  it('loads every tensor with the values PyTorch stored', async () => {
    const { tensors } = await loadSafetensors(fixture);
    const expected: Record<string, [string, number[], number[]]> = {
      'f32.matrix': ['float32', [2, 3], [-1, -0.5, 0, 0.5, 1, 1.5]],
      'f16.values': ['float16', [2, 2], [0.0999755859375, -2.5, 65504, 2 ** -24]],
      'bf16.values': ['float32', [4], [1, 3.140625, -0.00099945068359375, 3.00405527047391e38]],
      'f64.third': ['float32', [1], [Math.fround(1 / 3)]],
      'i64.ids': ['int32', [4], [0, 1, -5, 2147483647]],
      'i32.ids': ['int32', [2, 2], [1, -2, 3, -4]],
      'u8.bytes': ['int32', [3], [0, 7, 255]],
      'bool.mask': ['bool', [3], [1, 0, 1]],
      scalar: ['float32', [], [3.25]],
      empty: ['float32', [0, 4], []],
    };
    for (const [name, [dtype, shape, values]] of Object.entries(expected)) {
      expect(tensors[name].dtype, name).toBe(dtype);
      expect(tensors[name].shape, name).toEqual(shape);
      expect([...(await tensors[name].data())], name).toEqual(values);
    }
    for (const t of Object.values(tensors)) t.dispose();
  });
});

describe.skipIf(!python)('Kiln-written file read by PyTorch', () => {
  it('round-trips through make_safetensors_fixture.py --dump', async () => {
    const tensors: Record<string, Tensor> = {
      'transformer.wte.weight': tensor([
        [0.5, -1.25],
        [3, 1e-3],
      ]),
      'half.weight': tensor([0.1, -2.5, 65504], { dtype: 'float16' }),
      ids: tensor([[7, -8]], { dtype: 'int32' }),
      mask: tensor([false, true]),
      scalar: tensor(4),
    };
    const path = join(dir, 'kiln.safetensors');
    await saveSafetensors(path, tensors, { metadata: { producer: 'kiln' } });
    const dump = JSON.parse(
      execFileSync(python!, [script, '--dump', path], { encoding: 'utf8', env: NO_BYTECODE }),
    );
    expect(dump.metadata).toEqual({ producer: 'kiln' });
    expect(dump.tensors).toEqual({
      'transformer.wte.weight': {
        dtype: 'float32',
        shape: [2, 2],
        values: [0.5, -1.25, 3, Math.fround(1e-3)],
      },
      'half.weight': { dtype: 'float16', shape: [3], values: [0.0999755859375, -2.5, 65504] },
      ids: { dtype: 'int32', shape: [1, 2], values: [7, -8] },
      mask: { dtype: 'bool', shape: [2], values: [0, 1] },
      scalar: { dtype: 'float32', shape: [], values: [4] },
    });

    // float16 export, read by PyTorch as torch.float16.
    const fp16Path = join(dir, 'kiln-fp16.safetensors');
    await saveSafetensors(fp16Path, { w: tensors['transformer.wte.weight'] }, { dtype: 'float16' });
    const fp16 = JSON.parse(
      execFileSync(python!, [script, '--dump', fp16Path], { encoding: 'utf8', env: NO_BYTECODE }),
    );
    expect(fp16.tensors.w).toEqual({
      dtype: 'float16',
      shape: [2, 2],
      values: [0.5, -1.25, 3, 0.0010004043579101562],
    });
    for (const t of Object.values(tensors)) t.dispose();
  });
});
