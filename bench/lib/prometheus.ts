/** Reads badgesync's /metrics (Prometheus text) into sample name (with labels) → value. */

export async function scrape(http: string): Promise<Map<string, number>> {
  const res = await fetch(`${http}/metrics`);
  const text = await res.text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** Sum of every sample whose name (before any labels) is `name`. */
export function total(samples: ReadonlyMap<string, number>, name: string): number {
  let sum = 0;
  for (const [key, value] of samples) {
    const base = key.includes('{') ? key.slice(0, key.indexOf('{')) : key;
    if (base === name) sum += value;
  }
  return sum;
}

/** Change of `name` between two scrapes. */
export function delta(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>, name: string): number {
  return total(after, name) - total(before, name);
}
