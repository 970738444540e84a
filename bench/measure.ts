import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

// What the benchmarks measure with: medians, wall time, CPU time and peak memory of processes (/proc).

const MiB = 1024 * 1024;

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux Node supports). */
const TICKS_PER_SECOND = 100;

/** The middle value (the upper one of an even count); NaN for none. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** Milliseconds `fn` took. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** MB/s (MiB per second) for `bytes` in `ms`. */
export const mbps = (bytes: number, ms: number): number => bytes / MiB / (ms / 1000);

/** User + system CPU (ms) in a /proc stat line; the command name may hold spaces, hence from the last ')'. */
function statCpuMs(stat: string): number {
  // Fields after the command name: utime is the 12th, stime the 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/**
 * CPU time (user + system, ms) process `pid` has used so far, from /proc (Linux only); NaN when there is
 * no such process (any more). A busy machine stretches wall time far more than the CPU time work takes.
 */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    return statCpuMs(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return NaN;
  }
}

/**
 * CPU time (ms) so far of process `pid`'s live threads, summed by thread name (Node's: `MainThread`,
 * `libuv-worker` for the thread pool, `V8Worker` for concurrent GC and compiling); empty when there is no
 * such process. Threads that already exited are not counted.
 */
export function threadCpuMs(pid: number | undefined): Map<string, number> {
  const byName = new Map<string, number>();
  if (pid === undefined) return byName;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return byName;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      byName.set(name, (byName.get(name) ?? 0) + statCpuMs(stat));
    } catch {
      // The thread exited between the listing and the read.
    }
  }
  return byName;
}

const statusKb = (pid: number, field: 'VmHWM' | 'VmRSS'): number =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

/** Peak resident memory (VmHWM, MB) of process `pid` since it started or since {@link resetPeakRss}. */
export function peakRssMb(pid: number): number {
  return statusKb(pid, 'VmHWM') / 1024;
}

/** Resident memory (VmRSS, MB) of process `pid` now. */
export function rssMb(pid: number): number {
  return statusKb(pid, 'VmRSS') / 1024;
}

/**
 * Restarts the peak of {@link peakRssMb} from the current RSS (Linux: "5" to /proc/<pid>/clear_refs), so a
 * peak can be measured over one phase (the warm-up's peak, for instance, does not count as the phase's).
 */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** Process ids whose command name (/proc/<pid>/comm) is `name` (e.g. `redis-server`). */
export function pidsNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) pids.push(Number(entry));
    } catch {
      // The process exited meanwhile.
    }
  }
  return pids;
}
