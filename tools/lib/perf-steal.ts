/**
 * CPU steal: time a virtual CPU was ready to run but the hypervisor ran another guest
 * instead. A latency bench on a shared virtual machine cannot tell steal from a slow server:
 * a request whose CPU is taken away for a few milliseconds shows up in the tail, whoever
 * serves it. The bench reads each CPU's counters from /proc/stat around a run and says how
 * much was stolen, so a reader can tell a noisy host from a slow service.
 */
import { readFileSync } from 'node:fs';

/** One CPU's time so far, in clock ticks, from a `cpuN` line of /proc/stat. */
export interface CpuTicks {
  cpu: string;
  total: number;
  steal: number;
}

/**
 * The per-CPU lines of a /proc/stat text (`cpu0 user nice system idle iowait irq softirq
 * steal guest guest_nice`; guest time is already counted in user, so it is left out of the
 * total). The all-CPU `cpu` line is skipped.
 */
export function parseProcStat(text: string): CpuTicks[] {
  const ticks: CpuTicks[] = [];
  for (const line of text.split('\n')) {
    const m = /^(cpu\d+)\s+(.*)$/.exec(line);
    if (!m) {
      continue;
    }
    const fields = m[2].trim().split(/\s+/).map(Number);
    const counted = fields.slice(0, 8);
    ticks.push({
      cpu: m[1],
      total: counted.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0),
      steal: Number.isFinite(counted[7]) ? counted[7] : 0,
    });
  }
  return ticks;
}

/** Each CPU's counters now, or null where /proc/stat cannot be read (not Linux). */
export function readCpuTicks(): CpuTicks[] | null {
  try {
    return parseProcStat(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Each CPU's stolen share between two readings, in percent (CPUs present in both); null when
 * either reading is missing or no CPU's time moved.
 */
export function stealPercent(
  before: CpuTicks[] | null,
  after: CpuTicks[] | null,
): Record<string, number> | null {
  if (!before || !after) {
    return null;
  }
  const shares: Record<string, number> = {};
  for (const a of after) {
    const b = before.find((t) => t.cpu === a.cpu);
    const elapsed = b ? a.total - b.total : 0;
    if (b && elapsed > 0) {
      shares[a.cpu] = (100 * (a.steal - b.steal)) / elapsed;
    }
  }
  return Object.keys(shares).length > 0 ? shares : null;
}

/** Above this share on any CPU, a run's latency says as much about the host as the service. */
export const NOISY_STEAL_PERCENT = 3;

/**
 * The sentence for a run's steal (see stealPercent), e.g. "CPU steal during the run: cpu0
 * 1.2%, cpu1 7.9% (NOISY HOST: ...)"; null when it could not be read.
 */
export function stealSentence(
  shares: Record<string, number> | null,
  what = 'the run',
): string | null {
  if (!shares) {
    return null;
  }
  const cpus = Object.keys(shares);
  const listed = cpus.map((cpu) => `${cpu} ${shares[cpu].toFixed(1)}%`).join(', ');
  const noisy = cpus.some((cpu) => shares[cpu] > NOISY_STEAL_PERCENT);
  return (
    `CPU steal during ${what} (time the hypervisor gave these CPUs to other guests): ${listed}` +
    (noisy
      ? `; NOISY HOST: above ${NOISY_STEAL_PERCENT}%, latency tails and ratios move with the host's other guests; compare against the bare server's own figures in the same run`
      : '')
  );
}
