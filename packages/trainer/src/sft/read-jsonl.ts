/** Reading JSONL conversation files from disk (Node only; exported from `@kiln/trainer/node`). */
import { readFile } from 'node:fs/promises';
import { type ParseChatJsonlOptions, type ParsedChatJsonl, parseChatJsonl } from './parse-jsonl.js';

/**
 * Reads and parses a JSONL conversation file (see `parseChatJsonl`); errors name the file
 * (`options.source`, default the path) and the line.
 *
 * ```ts
 * const { examples, skipped } = await readChatJsonl('data/train.jsonl', { skipInvalid: true });
 * ```
 */
export async function readChatJsonl(
  path: string | URL,
  options: ParseChatJsonlOptions = {},
): Promise<ParsedChatJsonl> {
  const source = options.source ?? (path instanceof URL ? path.pathname : path);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`readChatJsonl: cannot read ${source}: ${(error as Error).message}`, { cause: error });
  }
  return parseChatJsonl(text, { ...options, source });
}
