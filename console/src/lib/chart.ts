/** Layout of the usage bar chart (drawn as plain SVG: no chart library, no inline styles). */

export interface Bar {
  key: string;
  value: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ChartLayout {
  bars: Bar[];
  /** Axis ticks from 0 to the rounded maximum. */
  ticks: { value: number; y: number }[];
  max: number;
}

/** The smallest "nice" number (1, 2 or 5 times a power of ten) at least `value`. */
export function niceCeiling(value: number): number {
  if (value <= 0 || !Number.isFinite(value)) {
    return 1;
  }
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= value - power * 1e-9) {
      return step * power;
    }
  }
  return 10 * power;
}

/**
 * Bars for `points` in a `width` x `height` plot area (origin top-left, SVG units), with a
 * gap between bars of a fifth of their slot, and four ticks.
 */
export function layoutBars(
  points: { key: string; value: number }[],
  width: number,
  height: number,
): ChartLayout {
  const max = niceCeiling(Math.max(0, ...points.map((p) => p.value)));
  const slot = points.length === 0 ? width : width / points.length;
  const gap = slot / 5;
  const bars = points.map((p, i) => {
    const h = (Math.max(0, p.value) / max) * height;
    return {
      key: p.key,
      value: p.value,
      x: i * slot + gap / 2,
      y: height - h,
      width: slot - gap,
      height: h,
    };
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => ({ value: max * f, y: height - f * height }));
  return { bars, ticks, max };
}
