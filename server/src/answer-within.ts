/**
 * `work`'s answer, or `fallback` once `ms` have passed without one: for a caller that must not
 * wait longer than its own bound (a readiness probe, a metrics scrape) for work that may go on.
 * The timer is cleared as soon as either side settles and never holds the process open.
 */
export function answerWithin<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
    timer.unref?.();
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
