/**
 * `ConfigError`, in a file of its own so that the config and the feed-forward registry (which
 * `config.ts` consults to validate `feedForward`) can both throw it without importing each other.
 */

/** A configuration problem: the message names the field and how to fix it. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
