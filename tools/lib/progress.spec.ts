import { Progress } from './progress';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (t: string) => writes.push(t) } };
}

describe(Progress.name, () => {
  it('writes nothing when disabled', () => {
    const { writes, stream } = fakeStream(true);
    const sut = new Progress({ stream, enabled: false });
    sut.start('users', 10);
    sut.advance(10);
    sut.done();
    expect(writes).toEqual([]);
  });

  it('throttles updates to the interval but always draws the end of a phase', () => {
    let clock = 0;
    const { writes, stream } = fakeStream(false);
    const sut = new Progress({ stream, enabled: true, intervalMs: 100, now: () => clock });
    sut.start('users', 1000);
    for (let i = 0; i < 10; i++) {
      clock += 30;
      sut.advance(100);
    }
    sut.done();
    expect(writes).toEqual([
      'users 0/1,000 (0%)\n',
      'users 400/1,000 (40%)\n',
      'users 800/1,000 (80%)\n',
      'users 1,000/1,000 (100%)\n',
    ]);
  });

  it('redraws one line in place on a terminal and ends it when the phase ends', () => {
    let clock = 0;
    const { writes, stream } = fakeStream(true);
    const sut = new Progress({ stream, enabled: true, intervalMs: 10, now: () => clock });
    sut.start('models', 2);
    clock += 20;
    sut.advance(2);
    sut.done();
    sut.start('verifying');
    sut.done();
    expect(writes).toEqual([
      '\r\x1b[2Kmodels 0/2 (0%)',
      '\r\x1b[2Kmodels 2/2 (100%)',
      '\n',
      '\r\x1b[2Kverifying...',
      '\r\x1b[2Kverifying: done',
      '\n',
    ]);
  });
});
