import { randomFillSync } from 'node:crypto';

/** Random bytes drawn 256 ids at a time: one system call per batch, not per id. */
const pool = Buffer.alloc(16 * 256);
let next = pool.length;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * A UUID version 7 (RFC 9562): the Unix time in milliseconds in its first 48 bits, then
 * random bits. Ids made later sort after earlier ones, so rows keyed by them go to the end
 * of their primary-key index instead of anywhere in it: a batch of ledger rows then dirties
 * one or two index pages, not one page per row (each page is one more 4 KB write at commit).
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
  let text = '';
  for (let i = 0; i < 16; i++) {
    text += HEX[b[i]];
    if (i === 3 || i === 5 || i === 7 || i === 9) {
      text += '-';
    }
  }
  return text;
}
