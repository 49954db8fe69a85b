/**
 * Which CPUs the processes of a latency bench run on. On a small machine the load generator
 * and the stand-in upstream compete with the measured server for the same cores, so the
 * server waits for a CPU behind them now and then: time a real client never sees, since in
 * production neither the client nor the upstream runs on the gateway's machine. With two
 * or more CPUs the measured server gets the last one to itself and everything else the rest,
 * set with util-linux's `taskset` at start (children and threads inherit it).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Where the processes of a run were placed, and the sentence that says so. */
export interface CpuPlan {
  /** taskset CPU list of the measured server(s), or null when unpinned. */
  server: string | null;
  /** taskset CPU list of the generator, the stand-in and the bench's own client, or null. */
  load: string | null;
  /** taskset CPU list of every CPU this process may use (to undo a pin). */
  all: string;
  note: string;
}

/** The CPU ids of a kernel CPU list such as "0-3,6,8-9". */
export function parseCpuList(text: string): number[] {
  const ids: number[] = [];
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) {
      throw new Error(`not a CPU list: "${text}"`);
    }
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    for (let id = first; id <= last; id++) {
      ids.push(id);
    }
  }
  return ids;
}

/**
 * The plan for the CPUs this process may use (`allowed`) and the taskset executable (null
 * when missing): the server on the last CPU, the load on the others; unpinned, with the
 * reason, on one CPU or without taskset.
 */
export function planCpus(allowed: number[], taskset: string | null): CpuPlan {
  const all = allowed.join(',');
  if (allowed.length < 2) {
    return { server: null, load: null, all, note: `unpinned: ${allowed.length} CPU allowed` };
  }
  if (taskset === null) {
    return {
      server: null,
      load: null,
      all,
      note: 'UNPINNED: taskset (util-linux) not found, the server shares every CPU with the load',
    };
  }
  const server = String(allowed[allowed.length - 1]);
  const load = allowed.slice(0, -1).join(',');
  return {
    server,
    load,
    all,
    note: `pinned with taskset: the measured servers on CPU ${server}, wrk, the stand-in and the bench's own client on CPU ${load}`,
  };
}

/** The CPUs this process may run on (its affinity), from /proc. */
function allowedCpus(): number[] {
  const status = readFileSync('/proc/self/status', 'utf8');
  return parseCpuList(/^Cpus_allowed_list:\s*(\S+)/m.exec(status)![1]);
}

function findTaskset(): string | null {
  const probe = spawnSync('sh', ['-c', 'command -v taskset'], { encoding: 'utf8' });
  return probe.status === 0 && probe.stdout.trim() !== '' ? probe.stdout.trim() : null;
}

/** The plan for this machine. */
export function machineCpuPlan(): CpuPlan {
  return planCpus(allowedCpus(), findTaskset());
}

/** `command args` run on `cpus` (taskset execs it: same pid), or as is when cpus is null. */
export function onCpus(
  cpus: string | null | undefined,
  command: string,
  args: string[],
): [string, string[]] {
  return cpus ? ['taskset', ['-c', cpus, command, ...args]] : [command, args];
}

/** Moves a running process, every thread of it, to `cpus` (for the bench's own process). */
export function pinProcess(pid: number, cpus: string): void {
  const result = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], {
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(`taskset -a -p -c ${cpus} ${pid} failed: ${result.stderr}`);
  }
}
