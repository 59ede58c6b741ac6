/**
 * The checks on a safetensors header text that `JSON.parse` cannot make, because it has already
 * merged what they look at: a name given twice. `JSON.parse` keeps the last of two equal keys
 * silently, so a header naming a tensor twice would load whichever came last (or fail later with
 * an unrelated message about unused bytes). The reference implementation refuses such a header,
 * and so does this: {@link findDuplicateKey} walks the (already valid) JSON text once, tracking
 * the keys of each object, and reports the first key given twice with the keys that lead to it.
 */

/** A key given twice: the keys of the objects that hold it (outermost first) and the key. */
export interface DuplicateKey {
  /** Keys from the top-level object down to the object that holds `key` (empty at the top level). */
  path: string[];
  /** The key given twice (escapes decoded: `"a"` and `"\u0061"` are the same key). */
  key: string;
}

interface Frame {
  /** The keys seen so far, or null for an array. */
  keys: Set<string> | null;
  /** Whether the next string in this object is a key. */
  expectKey: boolean;
  /** The key whose value this object or array is (undefined for the top level and array items). */
  name: string | undefined;
}

/**
 * The first key that appears twice in one object of `text`, or undefined when there is none.
 * `text` must be valid JSON (parse it first); this only looks at strings and brackets.
 */
export function findDuplicateKey(text: string): DuplicateKey | undefined {
  const stack: Frame[] = [];
  let lastKey: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) {
          escaped = true;
          i++; // skip the escaped character (an escaped quote does not end the string)
        } else if (d === 0x22) break;
      }
      const top = stack.at(-1);
      if (top?.keys && top.expectKey) {
        const raw = text.slice(start, i + 1);
        const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (top.keys.has(key)) {
          return { path: stack.slice(1).map((f) => f.name ?? '[]'), key };
        }
        top.keys.add(key);
        top.expectKey = false;
        lastKey = key;
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const parent = stack.at(-1);
      const name = parent?.keys ? lastKey : undefined;
      stack.push({ keys: c === 0x7b ? new Set() : null, expectKey: c === 0x7b, name });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack.at(-1);
      if (top?.keys) top.expectKey = true;
    }
  }
  return undefined;
}
