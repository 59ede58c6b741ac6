/** Base class of every error this package throws on purpose, so callers can tell them from bugs. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

/**
 * A file or object that does not follow the format it claims to be in: a corrupt `.tiktoken` line
 * (the message names the line number), an invalid `tokenizer.json`, an unknown pattern name.
 */
export class TokenizerFormatError extends TokenizerError {
  override name = 'TokenizerFormatError';
}

/**
 * The text contains a special token (such as `<|endoftext|>`) that the call did not allow.
 * Same rule as tiktoken: special-token text in user input is rejected unless it is explicitly
 * allowed (encode it as the special id) or explicitly not disallowed (encode it as plain text).
 */
export class DisallowedSpecialTokenError extends TokenizerError {
  override name = 'DisallowedSpecialTokenError';
  constructor(
    /** The special token text that was found. */
    readonly token: string,
    /** UTF-16 offset of the token in the input text. */
    readonly index: number,
  ) {
    super(
      `The text contains the special token ${JSON.stringify(token)} at offset ${index}, which is disallowed. ` +
        `Pass { allowedSpecial: [${JSON.stringify(token)}] } (or 'all') to encode it as its special id, ` +
        `pass { disallowedSpecial: [] } to encode it as plain text, or use encodeOrdinary().`,
    );
  }
}

/** A token id that is not in the vocabulary (negative, too large, or a hole in the id space). */
export class TokenIdError extends RangeError {
  override name = 'TokenIdError';
}
