/**
 * The fuzz corpus: real traffic recorded by capture.ts, stored as base64 in
 * corpus/http.json (raw HTTP request bytes) and corpus/sync.json (each device connection's
 * sync frames, in order). Credentials are stored as placeholders and filled in per server:
 * `{{API_KEY}}` and `{{TOKEN:<account>:<device>}}`; a mutated placeholder is a bad credential.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CORPUS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'corpus');

export interface HttpSeed {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface SyncSeed {
  readonly name: string;
  /** The device that sent the frames: the fuzzer connects as it, so honest frames stay honest. */
  readonly device: string;
  readonly frames: readonly Uint8Array[];
}

interface HttpFile {
  readonly note: string;
  readonly http: Array<{ name: string; base64: string }>;
}

interface SyncFile {
  readonly note: string;
  readonly sync: Array<{ name: string; device: string; frames: string[] }>;
}

const NOTE = 'Recorded real traffic; regenerate with `pnpm fuzz:corpus` (test/fuzz/capture.ts).';

export function loadHttpCorpus(): HttpSeed[] {
  const file = JSON.parse(readFileSync(path.join(CORPUS_DIR, 'http.json'), 'utf8')) as HttpFile;
  return file.http.map((seed) => ({ name: seed.name, bytes: Buffer.from(seed.base64, 'base64') }));
}

export function loadSyncCorpus(): SyncSeed[] {
  const file = JSON.parse(readFileSync(path.join(CORPUS_DIR, 'sync.json'), 'utf8')) as SyncFile;
  return file.sync.map((seed) => ({
    name: seed.name,
    device: seed.device,
    frames: seed.frames.map((frame) => new Uint8Array(Buffer.from(frame, 'base64'))),
  }));
}

export function saveCorpus(http: readonly HttpSeed[], sync: readonly SyncSeed[]): void {
  const httpFile: HttpFile = {
    note: NOTE,
    http: http.map((seed) => ({ name: seed.name, base64: Buffer.from(seed.bytes).toString('base64') })),
  };
  const syncFile: SyncFile = {
    note: NOTE,
    sync: sync.map((seed) => ({
      name: seed.name,
      device: seed.device,
      frames: seed.frames.map((frame) => Buffer.from(frame).toString('base64')),
    })),
  };
  writeFileSync(path.join(CORPUS_DIR, 'http.json'), `${JSON.stringify(httpFile, null, 1)}\n`);
  writeFileSync(path.join(CORPUS_DIR, 'sync.json'), `${JSON.stringify(syncFile, null, 1)}\n`);
}

export const API_KEY_PLACEHOLDER = '{{API_KEY}}';
const TOKEN_PLACEHOLDER = /\{\{TOKEN:([^:{}\s]{1,128}):([^:{}\s]{1,128})\}\}/g;
const JWT = /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/g;

/** Replaces a live API key and device tokens by placeholders (for storing). */
export function toPlaceholders(text: string, apiKey: string): string {
  return text
    .split(apiKey)
    .join(API_KEY_PLACEHOLDER)
    .replace(JWT, (jwt) => {
      const claims = JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString()) as {
        sub: string;
        did: string;
      };
      return `{{TOKEN:${claims.sub}:${claims.did}}}`;
    });
}

export interface Credentials {
  readonly apiKey: string;
  /** A valid device token for (account, device), or null when none can be minted. */
  readonly token: (account: string, device: string) => Promise<string | null>;
}

/** Fills placeholders in with live credentials (bytes as latin1, so any byte survives). */
export async function materialize(bytes: Uint8Array, credentials: Credentials): Promise<Buffer> {
  let text = Buffer.from(bytes).toString('latin1');
  if (!text.includes('{{')) return Buffer.from(bytes);
  text = text.split(API_KEY_PLACEHOLDER).join(credentials.apiKey);
  const wanted = [...text.matchAll(TOKEN_PLACEHOLDER)];
  for (const [whole, account, device] of wanted) {
    const token = await credentials.token(account as string, device as string);
    if (token !== null) text = text.split(whole).join(token);
  }
  return Buffer.from(text, 'latin1');
}
