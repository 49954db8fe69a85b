import { layoutBars, niceCeiling } from './chart';

describe('usage chart layout', () => {
  it.each([
    [0, 1],
    [0.7, 1],
    [1, 1],
    [1.2, 2],
    [3, 5],
    [7, 10],
    [0.013, 0.02],
    [1234, 2000],
  ])('rounds %p up to the nice %p', (value, nice) => {
    expect(niceCeiling(value)).toBeCloseTo(nice, 10);
  });

  it('scales bars to the plot height and leaves gaps between them', () => {
    const sut = layoutBars(
      [
        { key: 'a', value: 5 },
        { key: 'b', value: 10 },
        { key: 'c', value: 0 },
      ],
      300,
      100,
    );
    expect(sut.max).toBe(10);
    expect(sut.bars.map((b) => b.height)).toEqual([50, 100, 0]);
    expect(sut.bars.map((b) => b.y)).toEqual([50, 0, 100]);
    expect(sut.bars[0].x).toBeCloseTo(10);
    expect(sut.bars[0].width).toBeCloseTo(80);
    expect(sut.bars[1].x).toBeCloseTo(110);
    expect(sut.ticks.map((t) => t.value)).toEqual([0, 2.5, 5, 7.5, 10]);
  });

  it('draws nothing tall for no data', () => {
    const sut = layoutBars([], 300, 100);
    expect(sut.bars).toEqual([]);
    expect(sut.max).toBe(1);
  });
});
