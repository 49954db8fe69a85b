import {
  addedOver,
  gatewayWrkScript,
  overRounds,
  ownTime,
  parseGatewayWrk,
  WrkRun,
} from './perf-gateway-wrk';

const run = (p50: number, mean: number, holdMean: number | null = null): WrkRun => ({
  requests: 1000,
  rps: 100,
  p50,
  p99: p50 + 5,
  mean,
  holdMean,
  errors: 0,
  non2xx: 0,
  measuredLatency: true,
});

describe(parseGatewayWrk.name, () => {
  it('reads the summary line printed after wrk own report, in ms', () => {
    const stdout =
      'Running 10s test @ http://127.0.0.1:1/v1/chat/completions\n  9500 requests in 10.00s\n' +
      '\nWRK_JSON {"requests":9500,"duration_us":10000000,"errors":1,"non2xx":2,' +
      '"p50_us":100312,"p99_us":109870,"mean_us":100420.500,"hold_sum_us":950000000,"hold_calls":9500,"measured":1}\n';
    expect(parseGatewayWrk(stdout)).toEqual({
      requests: 9500,
      rps: 950,
      p50: 100.312,
      p99: 109.87,
      mean: 100.4205,
      holdMean: 100,
      errors: 1,
      non2xx: 2,
      measuredLatency: true,
    });
  });

  it('has no hold mean when no answer carried one', () => {
    const stdout =
      'WRK_JSON {"requests":10,"duration_us":1000000,"errors":0,"non2xx":0,' +
      '"p50_us":1000,"p99_us":2000,"mean_us":1100,"hold_sum_us":0,"hold_calls":0}\n';
    expect(parseGatewayWrk(stdout).holdMean).toBeNull();
  });

  it('says so when wrk printed no summary', () => {
    expect(() => parseGatewayWrk('unable to connect')).toThrow('wrk printed no summary');
  });
});

describe(gatewayWrkScript.name, () => {
  it('posts the body with the authorization and reads the hold time of each answer', () => {
    const sut = gatewayWrkScript('{"model":"bench/json"}', 'Bearer abc', 100);
    expect(sut).toContain(`wrk.body = '{"model":"bench/json"}'`);
    expect(sut).toContain('wrk.headers["Authorization"] = "Bearer abc"');
    expect(sut).toContain(`string.match(body, '^{"bench_hold_us":(%d+)')`);
    // a Lua escape, not a newline of the TypeScript text
    expect(sut).toContain(`'\\nWRK_JSON {`);
    // the latency as recorded, over the connections wrk's correction assumed
    expect(sut).toContain('local connections = 100');
    expect(sut).toContain('measured_latency(summary, latency, connections)');
  });
});

describe(overRounds.name, () => {
  it('gives the median and the range of the rounds', () => {
    expect(overRounds([1, 9, 2])).toEqual({ median: 2, min: 1, max: 9, rounds: [1, 9, 2] });
    expect(overRounds([4, 1, 9, 2]).median).toBe(3);
  });

  it('refuses no rounds', () => {
    expect(() => overRounds([])).toThrow('no rounds');
  });
});

describe(addedOver.name, () => {
  it('subtracts the base run of the same round', () => {
    const base = [run(100, 100.5), run(101, 101.5)];
    const path = [run(100.5, 101), run(102, 103)];
    expect(addedOver(base, path, (r) => r.p50)).toEqual({
      median: 0.75,
      min: 0.5,
      max: 1,
      rounds: [0.5, 1],
    });
  });

  it('refuses runs of different rounds', () => {
    expect(() => addedOver([run(1, 1)], [], (r) => r.p50)).toThrow('rounds differ');
  });
});

describe(ownTime.name, () => {
  it('is mean latency minus mean hold', () => {
    expect(ownTime(run(100, 100.75, 100.25))).toBe(0.5);
  });

  it('refuses a run without hold times', () => {
    expect(() => ownTime(run(100, 100))).toThrow('no hold times');
  });
});
