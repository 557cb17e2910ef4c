import { type Logger, pino } from 'pino';

/** Structured JSON logs on stdout (SPEC OPS-1). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'badgesync' }, timestamp: pino.stdTimeFunctions.isoTime });
}
