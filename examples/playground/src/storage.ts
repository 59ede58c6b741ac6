// Where a trained model goes in a browser: downloads (Blob URLs), the origin private file system
// (OPFS, a checkpoint that survives a reload), and files the visitor picks or drops.
import type { SessionFiles } from './session.js';

const NAMES = ['model.safetensors', 'config.json', 'tokenizer.json'] as const;
const OPFS_DIR = 'kiln-playground';

/** The files as Blobs, ready for `<a download>` links or any upload. */
export function filesToBlobs(files: SessionFiles): Record<(typeof NAMES)[number], Blob> {
  return {
    'model.safetensors': new Blob([files['model.safetensors'] as Uint8Array<ArrayBuffer>], {
      type: 'application/octet-stream',
    }),
    'config.json': new Blob([files['config.json']], { type: 'application/json' }),
    'tokenizer.json': new Blob([files['tokenizer.json']], { type: 'application/json' }),
  };
}

/** Reads the three files from `File`s or `Blob`s named as in a model directory (a drop, a file picker). */
export async function filesFromBlobs(blobs: Iterable<File>): Promise<SessionFiles> {
  const byName = new Map([...blobs].map((f) => [f.name, f]));
  const missing = NAMES.filter((n) => !byName.has(n));
  if (missing.length) throw new Error(`pick all three files; missing ${missing.join(', ')}`);
  return {
    'model.safetensors': new Uint8Array(await byName.get('model.safetensors')!.arrayBuffer()),
    'config.json': await byName.get('config.json')!.text(),
    'tokenizer.json': await byName.get('tokenizer.json')!.text(),
  };
}

/** Whether this browser has the origin private file system. */
export function hasOpfs(): boolean {
  return typeof navigator !== 'undefined' && typeof navigator.storage?.getDirectory === 'function';
}

/** Saves the files to OPFS (replacing an earlier checkpoint). */
export async function saveToOpfs(files: SessionFiles): Promise<void> {
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle(OPFS_DIR, { create: true });
  const blobs = filesToBlobs(files);
  for (const name of NAMES) {
    const handle = await dir.getFileHandle(name, { create: true });
    const writable = await handle.createWritable();
    await writable.write(blobs[name]);
    await writable.close();
  }
}

/** The checkpoint saved in OPFS, or null when there is none. */
export async function loadFromOpfs(): Promise<SessionFiles | null> {
  try {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle(OPFS_DIR);
    const files: File[] = [];
    for (const name of NAMES) files.push(await (await dir.getFileHandle(name)).getFile());
    return await filesFromBlobs(files);
  } catch {
    return null;
  }
}
