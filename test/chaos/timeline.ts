/**
 * What a device was waiting for, for the report: around one interval over its bound (or one push
 * to an online device), where the device's connections were (which node, when), which seqs of
 * its accounts were committed (by which node, when), when each reached the nodes the device was
 * on (and how: the bus, a hole's repair, a reconciliation, …), the pushes it got and the
 * presence answers ("offline") the nodes decided on. The seqs and presence answers come from the
 * nodes' trace logs (`pnpm chaos --cluster --trace`, docs/CLUSTER.md "Tracing"); without them the
 * connections, holes, reconciliations and pushes are still shown.
 */
import type { ChaosRun, PushRecord } from './run.js';

interface Traced {
  readonly node: string;
  /** Epoch ms. */
  readonly at: number;
  readonly msg: string;
  readonly entry: Readonly<Record<string, unknown>>;
}

/** How far before an interval's start its cause may lie: a hole's grace and a little more. */
const LOOK_BEFORE_MS = 2_500;
/** Seqs listed per account and timeline: the ones that took longest to reach the device's nodes. */
const SEQS_SHOWN = 6;

const TRACED = new Set([
  'cluster publish',
  'cluster received',
  'cluster applied',
  'cluster presence: offline',
  'push claimed',
  'presence: online here',
  'presence: offline here',
  'cluster hole not filled within the grace; repairing from the log',
  'cluster reconcile: replica behind the log, repairing',
]);

export class Timelines {
  readonly #run: ChaosRun;
  readonly #traced: Traced[] = [];

  constructor(run: ChaosRun) {
    this.#run = run;
    for (const { name, process } of run.processes) {
      const node = name.replace(' (restarted)', '');
      for (const entry of process.logs) {
        const msg = entry.msg;
        if (typeof msg !== 'string' || !TRACED.has(msg) || typeof entry.time !== 'string') continue;
        this.#traced.push({ node, at: Date.parse(entry.time), msg, entry });
      }
    }
    this.#traced.sort((a, b) => a.at - b.at);
  }

  /** Whether the nodes logged seqs (a `--trace` run). */
  get traced(): boolean {
    return this.#traced.some((t) => t.msg === 'cluster publish');
  }

  /** Lines (indented) on what the device waited for in [start, end] (epoch ms). */
  explain(device: string, start: number, end: number): string[] {
    const run = this.#run;
    const s = (at: number) => ((at - run.t0) / 1000).toFixed(3);
    const from = start - LOOK_BEFORE_MS;
    const accounts = run.plan.devices.find((d) => d.id === device)?.candidates ?? [];
    const connections = (run.connections.get(device) ?? []).filter(
      (c) => c.openedAt <= end && (c.closedAt ?? Number.POSITIVE_INFINITY) >= from,
    );
    const lines = [
      `connections: ${connections.map((c) => `${c.node} ${s(c.openedAt)}–${c.closedAt === null ? 'open' : s(c.closedAt)}`).join(', ') || 'none'}`,
    ];
    const on = new Set(connections.map((c) => c.node));
    const window = this.#traced.filter((t) => t.at >= from && t.at <= end + 500);
    for (const account of accounts) {
      const mine = window.filter((t) => t.entry.account === account);
      const published = mine.filter((t) => t.msg === 'cluster publish');
      const seqs = published.map((p) => {
        const seq = p.entry.seq as number;
        const reached = [...on]
          .filter((node) => node !== p.node)
          .map((node) => {
            const applied = this.#applied(node, account, seq, p.at);
            return { node, applied };
          });
        const worst = Math.max(0, ...reached.map((r) => (r.applied === null ? end - p.at : r.applied.at - p.at)));
        return { p, seq, reached, worst };
      });
      const shown = [...seqs].sort((a, b) => b.worst - a.worst).slice(0, SEQS_SHOWN);
      shown.sort((a, b) => a.seq - b.seq);
      for (const { p, seq, reached } of shown) {
        const where = reached
          .map(({ node, applied }) =>
            applied === null
              ? `${node} not by ${s(end)}`
              : `${node} +${applied.at - p.at} ms (${applied.entry.via as string})`,
          )
          .join(', ');
        lines.push(
          `${account} seq ${seq} committed by ${p.node} at ${s(p.at)}${where === '' ? '' : `; applied on ${where}`}`,
        );
      }
      if (seqs.length > shown.length)
        lines.push(`${account}: ${seqs.length - shown.length} more seqs, each applied sooner`);
      for (const t of mine) {
        if (t.msg.startsWith('cluster hole') || t.msg.startsWith('cluster reconcile')) {
          lines.push(`${t.node} at ${s(t.at)}: ${t.msg} (${account}, watermark ${t.entry.watermark as number})`);
        }
        if (t.entry.device === device && t.msg !== 'cluster publish')
          lines.push(`${t.node} at ${s(t.at)}: ${t.msg} (${account})`);
      }
    }
    const token = run.tokens.get(device);
    if (token !== undefined) {
      const short = `${token.slice(0, 8)}…`;
      for (const t of window) {
        if (t.msg === 'push claimed' && (t.entry.tokens as string[]).includes(short)) {
          lines.push(`${t.node} at ${s(t.at)}: push claimed`);
        }
      }
    }
    for (const push of run.pushes) {
      const at = run.t0 + push.at;
      if (push.device === device && at >= from && at <= end + 500) {
        lines.push(`push reached APNs at ${s(at)}: badge ${push.badge} (${push.status}, ${push.verdict})`);
      }
    }
    return lines;
  }

  /** The push's own timeline: the presence answers and connections before it. */
  explainPush(push: PushRecord): string[] {
    const at = this.#run.t0 + push.at;
    return this.explain(push.device, at - 1_000, at);
  }

  /** When `node` applied `seq` of `account` (its watermark passed it) at or after `since`. */
  #applied(node: string, account: string, seq: number, since: number): Traced | null {
    for (const t of this.#traced) {
      if (t.at < since - 50 || t.node !== node || t.msg !== 'cluster applied' || t.entry.account !== account) continue;
      if ((t.entry.from as number) <= seq && (t.entry.to as number) >= seq) return t;
    }
    return null;
  }
}
