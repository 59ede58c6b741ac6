/** `[{ name, text }]` for the page's picker (see texts.mjs). */
export function loadTexts(): { name: string; text: string }[];
