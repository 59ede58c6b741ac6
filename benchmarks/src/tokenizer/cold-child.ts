// Child process for one cold measurement: a fresh process, the library code imported, then
// time to load the rank data and build the encoder, and time of the first encode of Moby Dick.
// Prints one JSON line.
import type { Encoding } from './data.js';
import { mobyDick } from './data.js';
import { createEncoder, importLibrary, type Peer } from './peers.js';

const [peer, encoding] = process.argv.slice(2) as [Peer, Encoding];
const text = mobyDick();
await importLibrary(peer);
const start = performance.now();
const encode = await createEncoder(peer, encoding);
const loaded = performance.now();
const ids = encode(text);
const done = performance.now();
console.log(JSON.stringify({ loadMs: loaded - start, firstEncodeMs: done - loaded, tokens: ids.length }));
