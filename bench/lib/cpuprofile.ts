/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): self time per function, heaviest first,
 * so a benchmark can name where a server's CPU went.
 *
 *   node --import tsx lib/cpuprofile.ts <file.cpuprofile> [top] [--inclusive REGEX]
 *
 * With --inclusive: total time (self and callees) of the functions whose "name where"
 * matches REGEX, e.g. `#flush|receiveUpdate|#broadcast` for the server's main paths.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface HotFunction {
  readonly name: string;
  readonly where: string;
  readonly selfMs: number;
  readonly share: number;
}

/** Self time grouped by where the code lives: a package, our folders, Node, native, GC. */
export function byModule(file: string): Array<{ module: string; selfMs: number; share: number }> {
  const { totalMs, functions } = hotFunctions(file, Number.POSITIVE_INFINITY);
  const groups = new Map<string, number>();
  for (const f of functions) {
    const module =
      f.where === ''
        ? f.name.startsWith('(')
          ? f.name
          : `native: ${f.name}`
        : f.where.startsWith('node:')
          ? 'node internals'
          : f.where
              .split('/')
              .slice(0, f.where.startsWith('@') ? 2 : 1)
              .join('/')
              .replace(/:\d+$/, '');
    groups.set(module, (groups.get(module) ?? 0) + f.selfMs);
  }
  return [...groups.entries()]
    .map(([module, selfMs]) => ({ module, selfMs, share: totalMs === 0 ? 0 : selfMs / totalMs }))
    .sort((a, b) => b.selfMs - a.selfMs);
}

/**
 * Total time per function: its own samples and those of everything it called (a function
 * on the stack twice counts once per sample). Sorted heaviest first.
 */
export function inclusiveTimes(file: string): { totalMs: number; functions: HotFunction[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const totals = new Map<string, { name: string; where: string; us: number }>();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    if (byId.get(id)?.callFrame.functionName === '(idle)') continue;
    totalUs += us;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = (byId.get(at) as ProfileNode).callFrame;
      const where = frame.url === '' ? '' : shorten(frame.url);
      const key = `${frame.functionName}@${where}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = totals.get(key) ?? { name: frame.functionName || '(anonymous)', where, us: 0 };
      entry.us += us;
      totals.set(key, entry);
    }
  }
  const functions = [...totals.values()]
    .sort((a, b) => b.us - a.us)
    .map((f) => ({ name: f.name, where: f.where, selfMs: f.us / 1000, share: totalUs === 0 ? 0 : f.us / totalUs }));
  return { totalMs: totalUs / 1000, functions };
}

export function hotFunctions(file: string, top = 15): { totalMs: number; functions: HotFunction[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, { name: string; where: string; us: number }>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const us = profile.timeDeltas[i] ?? 0;
    if (node === undefined) return;
    const frame = node.callFrame;
    if (frame.functionName === '(idle)') return;
    totalUs += us;
    const where = frame.url === '' ? '' : `${shorten(frame.url)}:${frame.lineNumber + 1}`;
    const key = `${frame.functionName}@${where}`;
    const entry = self.get(key) ?? { name: frame.functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    self.set(key, entry);
  });
  const functions = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((f) => ({ name: f.name, where: f.where, selfMs: f.us / 1000, share: totalUs === 0 ? 0 : f.us / totalUs }));
  return { totalMs: totalUs / 1000, functions };
}

function shorten(url: string): string {
  if (!url.startsWith('file://') && !url.startsWith('/')) return url;
  const file = url.replace(/^file:\/\//, '');
  const at = file.lastIndexOf('node_modules/');
  if (at >= 0) return file.slice(at + 'node_modules/'.length).replace(/^\.pnpm\/[^/]+\/node_modules\//, '');
  return path.relative(path.resolve(import.meta.dirname, '../..'), file);
}

if (process.argv[1] !== undefined && import.meta.filename === path.resolve(process.argv[1])) {
  const file = process.argv[2];
  if (file === undefined) throw new Error('usage: cpuprofile.ts <file.cpuprofile> [top] [--inclusive REGEX]');
  const at = process.argv.indexOf('--inclusive');
  if (at > 0) {
    const filter = new RegExp(process.argv[at + 1] ?? '.');
    const { totalMs, functions } = inclusiveTimes(file);
    process.stdout.write(`${totalMs.toFixed(0)} ms sampled (idle excluded); total time including callees:\n`);
    for (const f of functions.filter((f) => filter.test(`${f.name} ${f.where}`)).slice(0, 40)) {
      process.stdout.write(
        `${(f.share * 100).toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(6)} ms  ${f.name}  ${f.where}\n`,
      );
    }
    process.exit(0);
  }
  const { totalMs, functions } = hotFunctions(file, Number(process.argv[3] ?? 25));
  process.stdout.write(`${totalMs.toFixed(0)} ms sampled (idle excluded)\n`);
  for (const f of functions) {
    process.stdout.write(
      `${(f.share * 100).toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(6)} ms  ${f.name}  ${f.where}\n`,
    );
  }
  process.stdout.write('\nby module:\n');
  for (const m of byModule(file).slice(0, 20)) {
    process.stdout.write(
      `${(m.share * 100).toFixed(1).padStart(5)}%  ${m.selfMs.toFixed(0).padStart(6)} ms  ${m.module}\n`,
    );
  }
}
