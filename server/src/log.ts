import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * [EDGE-5] Paths that may hold a credential if a log call ever carries them: a request's URL
 * (the device token sits in the sync URL's `?token=`), its headers, and the `input` Node
 * attaches to a URL parse error (the whole URL).
 */
const REDACTED_PATHS = [
  'url',
  'req.url',
  'err.input',
  'token',
  '*.token',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'apiKey',
  'deviceSecret',
];

/** A URL keeps its path and loses its query; anything else is replaced whole. */
function censor(value: unknown, path: string[]): string {
  const last = path[path.length - 1];
  if ((last === 'url' || last === 'input') && typeof value === 'string') {
    const at = value.indexOf('?');
    return at < 0 ? value : `${value.slice(0, at)}?[redacted]`;
  }
  return '[redacted]';
}

/** Structured JSON logs on stdout (SPEC OPS-1); tests pass another destination. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'badgesync' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
