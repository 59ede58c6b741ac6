/**
 * CRC-32 (IEEE 802.3, the one zlib, gzip and PNG use), so a token file's checksum can be checked
 * with `zlib.crc32` in Python or any other standard implementation.
 */

const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/**
 * CRC-32 of `bytes`. Pass the previous result as `previous` to checksum data that arrives in
 * chunks: `crc32(b, crc32(a))` equals `crc32(a ‖ b)`.
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (let i = 0; i < bytes.length; i++) crc = TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}
