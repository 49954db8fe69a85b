import { prng } from './prng';

describe(prng.name, () => {
  it('gives the same sequence for the same seed and another for another seed', () => {
    const take = (seed: number) => {
      const sut = prng(seed);
      return Array.from({ length: 5 }, () => sut());
    };
    expect(take(42)).toEqual(take(42));
    expect(take(42)).not.toEqual(take(43));
  });

  it('stays in [0, 1)', () => {
    const sut = prng(7);
    for (let i = 0; i < 1000; i++) {
      const value = sut();
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(1);
    }
  });
});
