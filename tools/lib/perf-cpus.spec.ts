import { onCpus, parseCpuList, planCpus } from './perf-cpus';

describe(parseCpuList.name, () => {
  it('reads single CPUs and ranges', () => {
    expect(parseCpuList('0-3,6,8-9\n')).toEqual([0, 1, 2, 3, 6, 8, 9]);
    expect(parseCpuList('1')).toEqual([1]);
  });

  it('refuses what is not a CPU list', () => {
    expect(() => parseCpuList('0-1,x')).toThrow('not a CPU list');
  });
});

describe(planCpus.name, () => {
  it('gives the server the last CPU and the load the others', () => {
    const sut = planCpus([0, 1, 2, 5], '/usr/bin/taskset');
    expect(sut).toMatchObject({ server: '5', load: '0,1,2', all: '0,1,2,5' });
    expect(sut.note).toContain('servers on CPU 5');
    expect(sut.note).toContain('on CPU 0,1,2');
  });

  it('leaves everything unpinned on one CPU', () => {
    expect(planCpus([3], '/usr/bin/taskset')).toMatchObject({ server: null, load: null });
  });

  it('leaves everything unpinned, and says so, without taskset', () => {
    const sut = planCpus([0, 1], null);
    expect(sut).toMatchObject({ server: null, load: null });
    expect(sut.note).toContain('taskset (util-linux) not found');
  });
});

describe(onCpus.name, () => {
  it('runs the command under taskset when given CPUs', () => {
    expect(onCpus('0', 'wrk', ['-t1'])).toEqual(['taskset', ['-c', '0', 'wrk', '-t1']]);
  });

  it('runs the command as is without', () => {
    expect(onCpus(null, 'wrk', ['-t1'])).toEqual(['wrk', ['-t1']]);
  });
});
