// Pre-tokenization: cutting text into the pieces that byte-pair merging works on.

/**
 * Splits `text` with a global regex. Text the regex does not match (possible only with custom
 * patterns) is kept as pieces of its own, as Hugging Face's `Isolated` split does, so no
 * character is ever dropped (tiktoken would drop it).
 */
export function splitText(regex: RegExp, text: string): string[] {
  regex.lastIndex = 0;
  const pieces = text.match(regex) ?? [];
  let covered = 0;
  for (let i = 0; i < pieces.length; i++) covered += pieces[i].length;
  // Matches never overlap, so if their lengths add up to the text they cover all of it.
  if (covered === text.length) return pieces;
  return splitWithGaps(regex, text);
}

function splitWithGaps(regex: RegExp, text: string): string[] {
  const pieces: string[] = [];
  let last = 0;
  regex.lastIndex = 0;
  for (let m = regex.exec(text); m !== null; m = regex.exec(text)) {
    if (m[0].length === 0) {
      regex.lastIndex++; // step over an empty match
      continue;
    }
    if (m.index > last) pieces.push(text.slice(last, m.index));
    pieces.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) pieces.push(text.slice(last));
  return pieces;
}

/**
 * Calls `onText` for the stretches of `text` between matches of `specials` (a global regex of
 * special tokens) and `onSpecial` for each match, in order. Without a regex the whole text is
 * one stretch.
 */
export function forEachSpecialSplit(
  text: string,
  specials: RegExp | undefined,
  onText: (text: string) => void,
  onSpecial: (token: string) => void,
): void {
  if (specials === undefined) {
    onText(text);
    return;
  }
  let last = 0;
  specials.lastIndex = 0;
  for (let m = specials.exec(text); m !== null; m = specials.exec(text)) {
    if (m.index > last) onText(text.slice(last, m.index));
    onSpecial(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) onText(text.slice(last));
}

/**
 * A copy of `text` that does not keep a larger string alive. Regex matches are views into the
 * string they were found in (in V8, for 13+ characters), so storing a match in a long-lived map
 * would pin the whole input; the concatenation and slice make a small string of its own.
 */
export function detachString(text: string): string {
  return text.length < 13 ? text : ` ${text}`.slice(1);
}
