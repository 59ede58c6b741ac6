import { describe, expect, it } from 'vitest';
import {
  parseSafetensors,
  type SafetensorsEntry,
  SafetensorsError,
  serializeSafetensors,
} from '../src/safetensors.js';

const f32 = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

/** Builds a file from a header object and a data buffer, exactly as given (for corrupt-file tests). */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function headerOf(bytes: Uint8Array): { length: number; json: Record<string, unknown>; text: string } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + length));
  return { length, json: JSON.parse(text), text };
}

describe('serializeSafetensors / parseSafetensors', () => {
  it('round-trips entries and metadata', () => {
    const entries: Record<string, SafetensorsEntry> = {
      'a.weight': { dtype: 'F32', shape: [2, 2], data: f32([1, 2, 3, 4]) },
      'b.flag': { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
      'c.half': { dtype: 'F16', shape: [1], data: new Uint8Array([0x00, 0x3c]) },
      scalar: { dtype: 'I32', shape: [], data: new Uint8Array(new Int32Array([-7]).buffer) },
      empty: { dtype: 'F32', shape: [0, 5], data: new Uint8Array(0) },
    };
    const bytes = serializeSafetensors(entries, { format: 'pt' });
    const parsed = parseSafetensors(bytes);
    expect(parsed.metadata).toEqual({ format: 'pt' });
    expect([...parsed.tensors.keys()].sort()).toEqual(Object.keys(entries).sort());
    for (const [name, entry] of Object.entries(entries)) {
      const got = parsed.tensors.get(name)!;
      expect(got.dtype).toBe(entry.dtype);
      expect(got.shape).toEqual(entry.shape);
      expect([...got.data]).toEqual([...entry.data]);
    }
  });

  it('pads the header with spaces to 8-byte alignment and orders data by item size, then insertion', () => {
    const bytes = serializeSafetensors([
      ['first.bool', { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 1, 0]) }],
      ['second.f16', { dtype: 'F16', shape: [1], data: new Uint8Array([0, 0x3c]) }],
      ['third.f32', { dtype: 'F32', shape: [1], data: f32([2]) }],
      ['fourth.i64', { dtype: 'I64', shape: [1], data: new Uint8Array(8) }],
      ['fifth.f32', { dtype: 'F32', shape: [1], data: f32([3]) }],
    ]);
    const { length, json, text } = headerOf(bytes);
    expect((8 + length) % 8).toBe(0);
    expect(text.trimEnd().endsWith('}')).toBe(true);
    expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
    expect(Object.keys(json)).toEqual(['fourth.i64', 'third.f32', 'fifth.f32', 'second.f16', 'first.bool']);
    const offsets = Object.values(json).map((e) => (e as { data_offsets: number[] }).data_offsets);
    expect(offsets).toEqual([
      [0, 8],
      [8, 12],
      [12, 16],
      [16, 18],
      [18, 21],
    ]);
    expect(bytes.length).toBe(8 + length + 21);
  });

  it('omits __metadata__ when there is none and rejects invalid entries when writing', () => {
    expect(headerOf(serializeSafetensors({})).json).toEqual({});
    expect(() => serializeSafetensors({ x: { dtype: 'F32', shape: [2], data: f32([1]) } })).toThrow(
      /x.*8 bytes/,
    );
    expect(() => serializeSafetensors({ x: { dtype: 'Q4' as never, shape: [1], data: f32([1]) } })).toThrow(
      /unknown dtype "Q4"/,
    );
    expect(() =>
      serializeSafetensors({ __metadata__: { dtype: 'F32', shape: [1], data: f32([1]) } }),
    ).toThrow(/invalid tensor name/);
    expect(() => serializeSafetensors({}, { n: 1 as never })).toThrow(
      /metadata value for 'n' must be a string/,
    );
  });
});

describe('parseSafetensors validation', () => {
  const good = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const cases: [string, Uint8Array, RegExp][] = [
    ['a file shorter than 8 bytes', new Uint8Array(5), /too short/],
    [
      'a header longer than the limit',
      rawFile(good, f32([1, 2]), 200_000_000),
      /exceeds the 100000000-byte limit/,
    ],
    [
      'a header past the end of the file',
      rawFile(good, f32([1, 2]), 5000),
      /extends past the end.*truncated/,
    ],
    ['invalid JSON', rawFile('{"a": ', new Uint8Array(0)), /not valid UTF-8 JSON/],
    ['a non-object header', rawFile([1, 2]), /must be a JSON object, found an array/],
    [
      'non-string metadata',
      rawFile({ __metadata__: { n: 1 } }),
      /__metadata__ value for 'n' must be a string/,
    ],
    [
      'an unknown dtype',
      rawFile({ a: { dtype: 'F12', shape: [1], data_offsets: [0, 4] } }, f32([1])),
      /tensor 'a': unknown dtype "F12"/,
    ],
    [
      'a bad shape',
      rawFile({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32([1])),
      /tensor 'a': shape must be/,
    ],
    [
      'bad offsets',
      rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, f32([1])),
      /tensor 'a': data_offsets must be/,
    ],
    [
      'reversed offsets',
      rawFile({ a: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, f32([1])),
      /begin after end/,
    ],
    [
      'offsets past the data',
      rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }, f32([1, 2])),
      /tensor 'a'.*extend past the end of the 8-byte data/,
    ],
    [
      'a size mismatch',
      rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32([1, 2])),
      /tensor 'a': has 8 bytes but shape \[3\] of F32 needs 12/,
    ],
    [
      'overlapping tensors',
      rawFile(
        {
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
        },
        f32([1, 2]),
      ),
      /tensor 'b'.*overlaps tensor 'a'/,
    ],
    [
      'a hole',
      rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32([1, 2])),
      /4 unused bytes before tensor 'a'/,
    ],
    [
      'trailing bytes',
      rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32([1, 2])),
      /4 bytes after the last tensor/,
    ],
    ['invalid UTF-8', rawFile('{}').fill(0xff, 8, 9), /not valid UTF-8 JSON/],
  ];
  for (const [what, bytes, message] of cases) {
    it(`rejects ${what}`, () => {
      expect(() => parseSafetensors(bytes, { source: 'model.safetensors' })).toThrow(SafetensorsError);
      expect(() => parseSafetensors(bytes, { source: 'model.safetensors' })).toThrow(message);
    });
  }

  it('names the file in errors and accepts a lower header limit', () => {
    const bytes = rawFile(good, f32([1, 2]));
    expect(() => parseSafetensors(bytes, { source: 'x.st', maxHeaderBytes: 10 })).toThrow(
      /^safetensors x\.st: header length \d+ exceeds the 10-byte limit/,
    );
    expect(parseSafetensors(bytes).tensors.get('a')!.shape).toEqual([2]);
  });

  it('parses from an unaligned view into a larger buffer', () => {
    const bytes = serializeSafetensors({ a: { dtype: 'F32', shape: [2], data: f32([1.5, -2]) } });
    const holder = new Uint8Array(bytes.length + 3);
    holder.set(bytes, 3);
    const entry = parseSafetensors(holder.subarray(3)).tensors.get('a')!;
    expect([...new Float32Array(entry.data.slice().buffer)]).toEqual([1.5, -2]);
  });
});
