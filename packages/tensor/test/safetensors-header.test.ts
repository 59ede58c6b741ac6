// The header rules the reference implementation enforces and JSON.parse alone does not: a name
// given twice (JSON.parse keeps the last one silently), a header that does not start with '{'.
import { describe, expect, it } from 'vitest';
import { parseSafetensors, SafetensorsError } from '../src/safetensors.js';

const f32 = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

/** A file from the header text exactly as given, and a data buffer. */
function rawFile(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const parse = (bytes: Uint8Array) => () => parseSafetensors(bytes, { source: 'model.safetensors' });

describe('parseSafetensors: names given twice', () => {
  it('refuses a tensor named twice with the same offsets (JSON.parse would keep the last)', () => {
    const entry = '{"dtype":"F32","shape":[2],"data_offsets":[0,8]}';
    const bytes = rawFile(`{"a":${entry},"a":${entry}}`, f32([1, 2]));
    expect(parse(bytes)).toThrow(SafetensorsError);
    expect(parse(bytes)).toThrow(/safetensors model\.safetensors: the header names tensor 'a' twice/);
  });

  it('refuses a tensor named twice with different offsets, naming the tensor (not "unused bytes")', () => {
    const bytes = rawFile(
      '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
      f32([1, 2]),
    );
    expect(parse(bytes)).toThrow(/names tensor 'w' twice/);
  });

  it('sees through escapes: "a" and "\\u0061" are the same name', () => {
    const entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
    expect(parse(rawFile(`{"a":${entry},"\\u0061":${entry}}`, f32([1])))).toThrow(/names tensor 'a' twice/);
  });

  it('refuses a field given twice inside an entry, and a metadata key given twice', () => {
    const twiceDtype = rawFile(
      '{"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}',
      f32([1]),
    );
    expect(parse(twiceDtype)).toThrow(/tensor 'a' gives 'dtype' twice/);
    const twiceMeta = rawFile('{"__metadata__":{"format":"pt","format":"np"}}');
    expect(parse(twiceMeta)).toThrow(/__metadata__ gives 'format' twice/);
    const twiceBlock = rawFile('{"__metadata__":{},"__metadata__":{}}');
    expect(parse(twiceBlock)).toThrow(/__metadata__ twice/);
  });

  it('accepts names that only look alike, braces and quotes inside names, and padding spaces', () => {
    const header =
      '{"__metadata__":{"note":"{\\"a\\": 1}"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
      '"a ":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"{\\"a\\"}":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}    ';
    const parsed = parseSafetensors(rawFile(header, f32([1, 2])));
    expect([...parsed.tensors.keys()]).toEqual(['a', 'a ', '{"a"}']);
    expect(parsed.metadata).toEqual({ note: '{"a": 1}' });
  });
});

describe('parseSafetensors: the header start', () => {
  it("refuses a header that does not start with '{' (as the reference implementation)", () => {
    expect(parse(rawFile(' {}'))).toThrow(/header must start with '\{'/);
    expect(parse(rawFile('\n{}'))).toThrow(/header must start with '\{'/);
  });
});
