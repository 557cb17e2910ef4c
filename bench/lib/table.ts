/**
 * Markdown tables for benchmark output: `printTable(rows, columns)` prints one,
 * `formatTable(rows, columns)` answers its text. A cell is a string, a number or null
 * (printed "—"); a column whose cells all read as figures is right-aligned.
 */
export type TableCell = string | number | null | undefined;
export type TableRow = Readonly<Record<string, TableCell>>;

/** A figure: "1,234", "-2.5", "2.5 ms", "1.20×", "35 %", "—". */
const FIGURE = /^(—|-?[\d,]+(\.\d+)?( ?(×|%|ms|µs|s|\/s|B|KB|MB|GB))?)$/;

function text(cell: TableCell): string {
  return cell === null || cell === undefined || (typeof cell === 'number' && Number.isNaN(cell)) ? '—' : String(cell);
}

/** The rows as a markdown table of `columns`, in that order (a missing cell is "—"). */
export function formatTable(rows: readonly TableRow[], columns: readonly string[]): string {
  const right = columns.map((column) =>
    rows.every((row) => typeof row[column] === 'number' || FIGURE.test(text(row[column]))),
  );
  return [
    `| ${columns.join(' | ')} |`,
    `| ${right.map((r) => (r ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((row) => `| ${columns.map((column) => text(row[column])).join(' | ')} |`),
  ].join('\n');
}

/** Prints `formatTable(rows, columns)` and a blank line to `out` (stdout by default). */
export function printTable(
  rows: readonly TableRow[],
  columns: readonly string[],
  out: NodeJS.WritableStream = process.stdout,
): void {
  out.write(`${formatTable(rows, columns)}\n\n`);
}
