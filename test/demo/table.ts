/** The demo's terminal output: a header, one row per step, push lines between them. */

/** ANSI colours when stdout is a terminal, nothing otherwise (CI logs stay clean). */
const tty = process.stdout.isTTY === true;
const paint = (code: number) => (text: string) => (tty ? `\u001b[${code}m${text}\u001b[0m` : text);
export const green = paint(32);
export const red = paint(31);
export const dim = paint(2);
export const bold = paint(1);

export interface Row {
  readonly step: number;
  readonly what: string;
  readonly truth: number;
  readonly shown: ReadonlyArray<{ readonly value: number; readonly excused: boolean }>;
}

const WHAT_WIDTH = 40;
const COLUMN = 8;

export function header(devices: readonly string[]): string {
  const cells = ['truth', ...devices].map((name) => name.padStart(COLUMN)).join('');
  return bold(` #  ${'what happened'.padEnd(WHAT_WIDTH)}${cells}`);
}

/** One step: every device's shown badge beside the truth; ✓ when all that must match do. */
export function row({ step, what, truth, shown }: Row): { text: string; ok: boolean } {
  const ok = shown.every((cell) => cell.excused || cell.value === truth);
  const cells = shown
    .map((cell) => {
      if (cell.value === truth) return String(cell.value).padStart(COLUMN);
      // An offline device shows its own count; `*` marks it as excused from matching.
      return cell.excused ? dim(`${cell.value}*`.padStart(COLUMN)) : red(String(cell.value).padStart(COLUMN));
    })
    .join('');
  const mark = ok ? green('  ✓') : red('  ✗');
  return {
    text: ` ${String(step).padStart(2)} ${what.padEnd(WHAT_WIDTH)}${String(truth).padStart(COLUMN)}${cells}${mark}`,
    ok,
  };
}

/** A line for one push the test APNs server answered. */
export function pushLine(device: string, badge: unknown, status: number | 'cancelled'): string {
  return dim(`    push → ${device}: badge ${String(badge)} (APNs answered ${status})`);
}
