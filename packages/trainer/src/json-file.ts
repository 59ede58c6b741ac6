/**
 * JSON files a run or checkpoint directory holds (`trainer-state.json`, `run-config.json`,
 * `manifest.json`, …), parsed with an error that names the file and what it should hold.
 * `JSON.parse` alone throws a bare `SyntaxError` ("Unexpected token } in JSON at position 12"),
 * which leaves the user to guess which of a run's files is damaged.
 */

/** A JSON file that is not valid JSON or not what it should hold. */
export class JsonFileError extends Error {
  override name = 'JsonFileError';
  constructor(
    message: string,
    /** The file. */
    readonly path: string,
  ) {
    super(message);
  }
}

/**
 * Parses `text`, read from `path`, which should hold `expected` (e.g. "a Kiln trainer state");
 * on invalid JSON throws a {@link JsonFileError} naming both and the parser's complaint.
 */
export function parseJsonText(text: string, path: string, expected: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const empty = text.trim() === '' ? ' (the file is empty)' : '';
    throw new JsonFileError(
      `${path}: not valid JSON${empty} (${(error as Error).message}); expected ${expected}. The file is damaged (a torn write or an edit); restore it, or use another checkpoint`,
      path,
    );
  }
}
