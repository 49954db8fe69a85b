import { Histogram, register, Registry } from 'prom-client';
import { TallyHistogram } from './tally-histogram';

describe(TallyHistogram.name, () => {
  const name = 'tally_histogram_spec_seconds';
  const bounds = [0.001, 0.01, 0.1, 1];
  afterAll(() => register.removeSingleMetric(name));

  it("scrapes exactly as prom-client's own histogram for the same observations", async () => {
    const sut = TallyHistogram.registered(name, 'A spec histogram.', ['method', 'route'], bounds);
    const reference = new Registry();
    const expected = new Histogram({
      name,
      help: 'A spec histogram.',
      labelNames: ['method', 'route'],
      buckets: bounds,
      registers: [reference],
    });
    const observations: [string, string, number][] = [
      ['GET', '/a', 0.0005],
      ['GET', '/a', 0.001],
      ['GET', '/a', 0.05],
      ['GET', '/a', 3],
      ['PUT', '/b/:id', 0.2],
      ['GET', '/a', 0.0011],
    ];
    for (const [method, route, seconds] of observations) {
      sut.observe(`${method} ${route}`, [method, route], seconds);
      expected.observe({ method, route }, seconds);
    }
    const scraped = await register.getSingleMetricAsString(name);
    expect(scraped).toBe(await reference.getSingleMetricAsString(name));
    expect(scraped).toContain(`${name}_bucket{le="0.001",method="GET",route="/a"} 2`);
    expect(scraped).toContain(`${name}_count{method="PUT",route="/b/:id"} 1`);
  });

  it('is registered once per name, and reset empties it', async () => {
    const sut = TallyHistogram.registered(name, 'A spec histogram.', ['method', 'route'], bounds);
    expect(TallyHistogram.registered(name, 'again', ['method', 'route'], bounds)).toBe(sut);
    sut.reset();
    expect(await register.getSingleMetricAsString(name)).not.toContain('_count');
  });
});
