// Child process for one cold measurement: a fresh process, the library code imported, then
// time to load the rank data and build the encoder, and time of the first encode of Moby Dick.
// Prints one JSON line (wall and CPU milliseconds).
import { measure } from '../harness.js';
import type { Encoding } from './data.js';
import { mobyDick } from './data.js';
import { createEncoder, importLibrary, type Peer } from './peers.js';

const [peer, encoding] = process.argv.slice(2) as [Peer, Encoding];
const text = mobyDick();
await importLibrary(peer);
const loadStart = performance.now();
const cpuStart = process.cpuUsage();
const encode = await createEncoder(peer, encoding);
const cpuLoad = process.cpuUsage(cpuStart);
const loadMs = performance.now() - loadStart;
const first = measure(() => encode(text));
console.log(
  JSON.stringify({
    loadMs,
    loadCpuMs: (cpuLoad.user + cpuLoad.system) / 1000,
    firstEncodeMs: first.wallMs,
    firstEncodeCpuMs: first.cpuMs,
  }),
);
