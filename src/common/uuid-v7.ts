import { randomFillSync } from 'node:crypto';

/** Random bytes drawn 256 ids at a time: one system call per batch, not per id. */
const pool = Buffer.alloc(16 * 256);
let next = pool.length;

/** The hex digits, as the character codes written into `text`. */
const DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** The id's 36 characters (8-4-4-4-12), written here and read out as one string. */
const text = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');
/** Where each of the 16 bytes' two hex digits begin in `text`: every other non-dash place. */
const POSITIONS = [...text.keys()]
  .filter((at) => text[at] !== 0x2d)
  .filter((_, digit) => digit % 2 === 0);

/**
 * A UUID version 7 (RFC 9562): the Unix time in milliseconds in its first 48 bits, then
 * random bits. Ids made later sort after earlier ones, so rows keyed by them go to the end
 * of their primary-key index instead of anywhere in it: a batch of ledger rows then dirties
 * one or two index pages, not one page per row (each page is one more 4 KB write at commit).
 *
 * The text is written as bytes and read once: built by `+=` it was a tree of some twenty
 * string pieces per id, which every queued ledger row kept alive through the young
 * generation's collections (each piece one more object to copy).
 */
export function uuidV7(now: number = Date.now()): string {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  const b = pool.subarray(next, next + 16);
  next += 16;
  // 48-bit timestamp, big-endian (2^48 ms reach the year 10889)
  b[0] = Math.floor(now / 2 ** 40) & 0xff;
  b[1] = Math.floor(now / 2 ** 32) & 0xff;
  b[2] = (now >>> 24) & 0xff;
  b[3] = (now >>> 16) & 0xff;
  b[4] = (now >>> 8) & 0xff;
  b[5] = now & 0xff;
  b[6] = 0x70 | (b[6] & 0x0f); // version 7
  b[8] = 0x80 | (b[8] & 0x3f); // variant 10
  for (let i = 0; i < 16; i++) {
    text[POSITIONS[i]] = DIGITS[b[i] >> 4];
    text[POSITIONS[i] + 1] = DIGITS[b[i] & 0x0f];
  }
  return text.toString('latin1');
}
