import { NOISY_STEAL_PERCENT, parseProcStat, stealPercent, stealSentence } from './perf-steal';

const BEFORE = [
  'cpu  1000 0 200 5000 10 0 30 100 0 0',
  'cpu0 500 0 100 2500 5 0 15 40 0 0',
  'cpu1 500 0 100 2500 5 0 15 60 7 0',
  'intr 12345 0 0',
].join('\n');

describe(parseProcStat.name, () => {
  it('reads each CPU line, skipping the all-CPU line and the rest, without guest time', () => {
    expect(parseProcStat(BEFORE)).toEqual([
      { cpu: 'cpu0', total: 3160, steal: 40 },
      { cpu: 'cpu1', total: 3180, steal: 60 },
    ]);
  });
});

describe(stealPercent.name, () => {
  it('gives each CPU its stolen share of the time between two readings', () => {
    const before = parseProcStat(BEFORE);
    const after = [
      { cpu: 'cpu0', total: 3160 + 1000, steal: 40 + 10 },
      { cpu: 'cpu1', total: 3180 + 1000, steal: 60 + 80 },
      { cpu: 'cpu2', total: 500, steal: 5 },
    ];
    expect(stealPercent(before, after)).toEqual({ cpu0: 1, cpu1: 8 });
  });
});

describe(stealSentence.name, () => {
  const before = parseProcStat(BEFORE);

  it('lists each CPU and stays quiet about a host that stole little', () => {
    const after = before.map((t) => ({ ...t, total: t.total + 1000, steal: t.steal + 10 }));
    const sut = stealSentence(stealPercent(before, after), 'the gateway scenario');
    expect(sut).toContain('during the gateway scenario');
    expect(sut).toContain('cpu0 1.0%, cpu1 1.0%');
    expect(sut).not.toContain('NOISY HOST');
  });

  it('calls the host noisy when any CPU lost more than the threshold', () => {
    const stolen = (NOISY_STEAL_PERCENT + 1) * 10;
    const after = [
      { ...before[0], total: before[0].total + 1000 },
      { ...before[1], total: before[1].total + 1000, steal: before[1].steal + stolen },
    ];
    expect(stealSentence(stealPercent(before, after))).toContain('NOISY HOST');
  });

  it('says nothing when /proc/stat could not be read', () => {
    expect(stealPercent(null, before)).toBeNull();
    expect(stealPercent(before, [])).toBeNull();
    expect(stealSentence(null)).toBeNull();
  });
});
