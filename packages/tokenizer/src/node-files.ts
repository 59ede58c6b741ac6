// File access for the few functions that take a path. Everything else in the package runs in
// browsers, so Node's fs is reached through `process.getBuiltinModule` at call time instead of a
// static `node:` import that bundlers would have to stub.
import { TokenizerError } from './errors.js';

type Fs = typeof import('node:fs');

function nodeFs(what: string): Fs {
  const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule;
  if (typeof getBuiltin !== 'function') {
    throw new TokenizerError(
      `${what} needs file system access (Node.js 22.3 or newer). In a browser, fetch the file and pass its contents instead.`,
    );
  }
  return getBuiltin('node:fs') as Fs;
}

/** Reads a whole file synchronously (used by `fromTiktoken` given a path). */
export function readFileBytesSync(path: string | URL): Uint8Array {
  return nodeFs('Reading a file').readFileSync(path);
}

/** Reads a whole file. */
export async function readFileBytes(path: string | URL): Promise<Uint8Array> {
  return nodeFs('Reading a file').promises.readFile(path);
}

/** Writes a whole file (creating or replacing it). */
export async function writeFileText(path: string | URL, text: string): Promise<void> {
  await nodeFs('Writing a file').promises.writeFile(path, text);
}
