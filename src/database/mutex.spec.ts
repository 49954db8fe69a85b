import { Mutex } from './mutex';

describe(Mutex.name, () => {
  it('runs holders one at a time in arrival order', async () => {
    const sut = new Mutex();
    const events: string[] = [];
    const task = (name: string, ms: number) =>
      sut.run(async () => {
        events.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, ms));
        events.push(`end ${name}`);
        return name;
      });
    const results = await Promise.all([task('a', 20), task('b', 1), task('c', 5)]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('releases the lock when the holder throws', async () => {
    const sut = new Mutex();
    await expect(sut.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(sut.run(async () => 42)).resolves.toBe(42);
    expect(sut.locked).toBe(false);
  });
});
