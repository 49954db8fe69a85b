import { Mutex, Semaphore } from './mutex';

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

describe(Semaphore.name, () => {
  it('lets at most limit holders run at once and queues the rest in order', async () => {
    const sut = new Semaphore(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const gates = Array.from({ length: 5 }, () => {
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      return { gate, open };
    });
    const tasks = gates.map(({ gate }, i) =>
      sut.run(async () => {
        running++;
        peak = Math.max(peak, running);
        order.push(i);
        await gate;
        running--;
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual([0, 1]);
    for (const { open } of gates) {
      open();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(tasks);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(peak).toBe(2);
  });

  it('frees the slot when a holder throws', async () => {
    const sut = new Semaphore(1);
    await expect(sut.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(sut.run(async () => 'next')).resolves.toBe('next');
  });
});
