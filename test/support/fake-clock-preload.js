// A fake budget clock for the BUILT server, loaded only by tests:
//
//   FAKE_CLOCK_FILE=/tmp/now node --require test/support/fake-clock-preload.js dist/src/main.js
//
// The product reads budget time (periods, resets, alerts) from one injectable clock whose
// default instance is `systemClock` of dist/src/budgets/clock.js. This preload loads that
// module first and makes `systemClock.now()` answer the ISO 8601 instant written in
// FAKE_CLOCK_FILE, read again on every call, so a test moves the time of every replica at
// once by rewriting one file. Nothing else changes: Date, timers, JWT expiry and logs keep
// the real time, and the product carries no switch of its own to fake the time.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const file = process.env.FAKE_CLOCK_FILE;
if (!file) {
  throw new Error('fake-clock-preload: FAKE_CLOCK_FILE is not set');
}
const { systemClock } = require(join(__dirname, '..', '..', 'dist', 'src', 'budgets', 'clock.js'));
systemClock.now = () => {
  const text = readFileSync(file, 'utf8').trim();
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) {
    throw new Error(`fake-clock-preload: ${file} holds "${text}", not an ISO 8601 instant`);
  }
  return at;
};
