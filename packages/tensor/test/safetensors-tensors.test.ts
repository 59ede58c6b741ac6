import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, tensor } from '../src/index.js';
import { loadSafetensors, readSafetensorsFile, saveSafetensors, writeSafetensorsFile } from '../src/node.js';
import {
  parseSafetensors,
  SafetensorsError,
  serializeSafetensors,
  tensorsFromSafetensors,
  tensorsToSafetensors,
} from '../src/safetensors.js';
import { initCpu } from './helpers.js';

let dir: string;
beforeAll(async () => {
  await initCpu();
  dir = await mkdtemp(join(tmpdir(), 'kiln-safetensors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function disposeAll(tensors: Record<string, Tensor>): void {
  for (const t of Object.values(tensors)) t.dispose();
}

describe('tensors ↔ safetensors', () => {
  it('round-trips every Kiln dtype, scalars and empty tensors', async () => {
    const original = {
      w: tensor(
        [
          [1.5, -2.25, 3],
          [0, 1e-8, -7],
        ],
        { dtype: 'float32' },
      ),
      h: tensor([0.1, 65504, -3], { dtype: 'float16' }),
      ids: tensor(
        [
          [1, -2],
          [2147483647, -2147483648],
        ],
        { dtype: 'int32' },
      ),
      u: tensor([0, 4294967295], { dtype: 'uint32' }),
      mask: tensor([true, false, true]),
      s: tensor(2.5),
      empty: tensor([], { dtype: 'float32', shape: [0, 3] }),
    };
    const bytes = await tensorsToSafetensors(original, { metadata: { format: 'pt' } });
    const parsed = parseSafetensors(bytes);
    expect(Object.fromEntries([...parsed.tensors].map(([n, e]) => [n, e.dtype]))).toEqual({
      w: 'F32',
      h: 'F16',
      ids: 'I32',
      u: 'U32',
      mask: 'BOOL',
      s: 'F32',
      empty: 'F32',
    });
    const loaded = tensorsFromSafetensors(parsed);
    for (const [name, t] of Object.entries(original)) {
      expect(loaded[name].dtype, name).toBe(t.dtype);
      expect(loaded[name].shape, name).toEqual(t.shape);
      expect([...(await loaded[name].data())], name).toEqual([...(await t.data())]);
    }
    disposeAll(loaded);
    disposeAll(original);
  });

  it('exports float32 as float16 on request, rounding to the nearest half', async () => {
    const w = tensor([0.1, 1 / 3, -65504, 1e-9]);
    const ids = tensor([1, 2], { dtype: 'int32' });
    const parsed = parseSafetensors(await tensorsToSafetensors({ w, ids }, { dtype: 'float16' }));
    expect(parsed.tensors.get('w')!.dtype).toBe('F16');
    expect(parsed.tensors.get('ids')!.dtype).toBe('I32'); // integers are never converted
    const { w: back } = tensorsFromSafetensors(parsed, { names: ['w'] });
    expect(back.dtype).toBe('float16');
    expect([...(await back.data())]).toEqual([0.0999755859375, 0.333251953125, -65504, 0]);
    const { w: widened } = tensorsFromSafetensors(parsed, { names: ['w'], float16: 'float32' });
    expect(widened.dtype).toBe('float32');
    disposeAll({ w, ids, back, widened });
  });

  it('refuses a float16 export that would overflow, naming the tensor and value', async () => {
    const big = tensor([1, 70000]);
    await expect(tensorsToSafetensors({ 'layer.big': big }, { dtype: 'float16' })).rejects.toThrow(
      /tensor 'layer\.big' has value 70000 at flat index 1, beyond the float16 range/,
    );
    await expect(tensorsToSafetensors({ big }, { dtype: 'bfloat16' as never })).rejects.toThrow(
      /export dtype must be 'float16'/,
    );
    big.dispose();
  });

  it('narrows I64 to int32 and reports values that do not fit', async () => {
    const ok = new BigInt64Array([5n, -3n, 2147483647n]);
    const bad = new BigInt64Array([1n, 2n ** 40n]);
    const bytes = serializeSafetensors({
      ok: { dtype: 'I64', shape: [3], data: new Uint8Array(ok.buffer) },
      bad: { dtype: 'I64', shape: [2], data: new Uint8Array(bad.buffer) },
    });
    const parsed = parseSafetensors(bytes);
    const { ok: t } = tensorsFromSafetensors(parsed, { names: ['ok'] });
    expect(t.dtype).toBe('int32');
    expect([...(await t.data())]).toEqual([5, -3, 2147483647]);
    t.dispose();
    expect(() => tensorsFromSafetensors(parsed)).toThrow(
      /tensor 'bad' \(I64\) has value 1099511627776 at flat index 1, outside the int32 range/,
    );
  });

  it('rejects unsupported dtypes and unknown names clearly', () => {
    const parsed = parseSafetensors(
      serializeSafetensors({ q: { dtype: 'F8_E4M3', shape: [2], data: new Uint8Array(2) } }),
    );
    expect(() => tensorsFromSafetensors(parsed)).toThrow(
      /tensor 'q' has dtype F8_E4M3, which Kiln cannot load/,
    );
    expect(() => tensorsFromSafetensors(parsed, { names: ['nope'] })).toThrow(
      /no tensor named 'nope'; the file has q/,
    );
  });
});

describe('safetensors files', () => {
  it('saves atomically and loads back with metadata', async () => {
    const path = join(dir, 'model.safetensors');
    const w = tensor([
      [1, 2],
      [3, 4],
    ]);
    await saveSafetensors(path, { 'lm_head.weight': w }, { metadata: { step: '10' } });
    await saveSafetensors(path, { 'lm_head.weight': w }, { dtype: 'float16' }); // replaces it
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const { tensors, metadata } = await loadSafetensors(path);
    expect(metadata).toEqual({});
    expect(tensors['lm_head.weight'].dtype).toBe('float16');
    expect([...(await tensors['lm_head.weight'].data())]).toEqual([1, 2, 3, 4]);
    disposeAll(tensors);
    w.dispose();
  });

  it('writes raw entries and names the path in errors', async () => {
    const path = join(dir, 'raw.safetensors');
    await writeSafetensorsFile(
      path,
      { x: { dtype: 'U8', shape: [2], data: new Uint8Array([3, 4]) } },
      { a: 'b' },
    );
    const parsed = await readSafetensorsFile(path);
    expect(parsed.metadata).toEqual({ a: 'b' });
    await expect(readSafetensorsFile(join(dir, 'missing.safetensors'))).rejects.toThrow(/ENOENT/);
    const bad = join(dir, 'bad.safetensors');
    await writeSafetensorsFile(bad, {});
    const { writeFile } = await import('node:fs/promises');
    await writeFile(bad, new Uint8Array([1, 2, 3]));
    await expect(readSafetensorsFile(bad)).rejects.toThrow(SafetensorsError);
    await expect(readSafetensorsFile(bad)).rejects.toThrow(`safetensors ${bad}: file is 3 bytes`);
  });
});
