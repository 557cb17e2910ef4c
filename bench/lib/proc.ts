/**
 * What a process costs, read from /proc so it works the same for every server and client
 * process, whatever runs inside it: CPU time (utime + stime) and resident memory (VmRSS).
 */
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';

/**
 * Clock ticks per second of /proc/<pid>/stat. Linux has used 100 (USER_HZ) on every
 * architecture Node runs on; `getconf CLK_TCK` would say so, but needs a shell.
 */
const CLOCK_TICKS = 100;

/** CPU seconds the process has used so far in user and in system (kernel) mode; 10 ms granularity. */
export function cpuSplit(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
  return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS };
}

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuSplit(pid);
  return user + system;
}

/** Resident set size in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (match === null) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/** A CPU meter over a set of processes: `lap()` answers seconds used since the last lap. */
export class CpuMeter {
  #last: number;

  constructor(private readonly pid: number) {
    this.#last = cpuSeconds(pid);
  }

  lap(): number {
    const now = cpuSeconds(this.pid);
    const used = now - this.#last;
    this.#last = now;
    return used;
  }
}

export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly node: string;
  readonly kernel: string;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryBytes: totalmem(),
    node: process.version,
    kernel: release(),
  };
}

/** Memory the kernel could give a new process now (MemAvailable), in bytes. */
export function availableMemoryBytes(): number {
  const match = /^MemAvailable:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return match === null ? 0 : Number(match[1]) * 1024;
}

/** The whole machine's CPU seconds so far, busy and total (all cores), from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] as string;
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((sum, t) => sum + t, 0);
  // idle (4th) and iowait (5th) are the time no process wanted the CPU.
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busy: (total - idle) / CLOCK_TICKS, total: total / CLOCK_TICKS };
}

/**
 * Seconds the process's main thread has spent runnable but waiting for a CPU
 * (/proc/<pid>/schedstat, second field, ns): how much the machine held it back.
 */
export function runQueueWaitSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ');
  return Number(fields[1]) / 1e9;
}
