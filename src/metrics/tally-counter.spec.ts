import { Counter, register, Registry } from 'prom-client';
import { TallyCounter } from './tally-counter';

describe(TallyCounter.name, () => {
  const name = 'tally_counter_spec_total';
  afterAll(() => register.removeSingleMetric(name));

  it("scrapes exactly as prom-client's own counter for the same increments", async () => {
    const sut = TallyCounter.registered(name, 'A spec counter.', ['result', 'reason']);
    const reference = new Registry();
    const expected = new Counter({
      name,
      help: 'A spec counter.',
      labelNames: ['result', 'reason'],
      registers: [reference],
    });
    const increments: [string, string, number][] = [
      ['allowed', 'granted', 1],
      ['denied', 'no_grant', 0],
      ['denied', 'no_grant', 2.5],
      ['allowed', 'granted', 1],
      ['denied', 'user_pending', 0],
    ];
    for (const [result, reason, amount] of increments) {
      sut.inc(`${result} ${reason}`, [result, reason], amount);
      expected.inc({ result, reason }, amount);
    }
    const scraped = await register.getSingleMetricAsString(name);
    expect(scraped).toBe(await reference.getSingleMetricAsString(name));
    expect(scraped).toContain(`${name}{result="allowed",reason="granted"} 2`);
    expect(scraped).toContain(`${name}{result="denied",reason="user_pending"} 0`);
  });

  it('is registered once per name, and reset empties it', async () => {
    const sut = TallyCounter.registered(name, 'A spec counter.', ['result', 'reason']);
    expect(TallyCounter.registered(name, 'again', ['result', 'reason'])).toBe(sut);
    sut.reset();
    expect(await register.getSingleMetricAsString(name)).not.toContain('granted');
  });
});
