import { closeSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';

/**
 * A lock file created with O_EXCL holding the owner's pid: held while the file exists and
 * names a live process. A lock whose pid is dead (a crash, a kill -9) is stale and taken
 * over. Only the holder of a replica's lock may reuse its Yjs client ID (SPEC SDK-12).
 */
export class FileLock {
  #held = true;

  private constructor(readonly path: string) {}

  /** Takes the lock at `path`, or answers null when a live process (this one included) holds it. */
  static tryAcquire(path: string): FileLock | null {
    // Two rounds: create; else take a stale lock aside and create again.
    for (let round = 0; round < 2; round++) {
      if (createExclusive(path)) return new FileLock(path);
      if (!isStale(path)) return null;
      // The stale file is renamed aside, which only one process can do; a process that renamed
      // a lock somebody took meanwhile (live pid) puts it back and gives up.
      const aside = `${path}.stale-${process.pid}-${Math.random().toString(36).slice(2)}`;
      try {
        renameSync(path, aside);
      } catch {
        continue;
      }
      const pid = readPid(aside);
      if (pid !== null && isAlive(pid)) {
        try {
          linkSync(aside, path);
        } catch {
          // Somebody created a new lock meanwhile; theirs stands.
        }
        unlinkSync(aside);
        return null;
      }
      unlinkSync(aside);
    }
    return null;
  }

  /** Whether this instance still holds the lock. */
  get held(): boolean {
    return this.#held;
  }

  /** Removes the lock file, if it is still ours. */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    try {
      if (readPid(this.path) === process.pid) unlinkSync(this.path);
    } catch {
      // Already gone: nothing to release.
    }
  }
}

/**
 * How old a lock file without a readable pid must be to count as stale. The owner writes its pid
 * right after creating the file (microseconds), so an empty file older than this is a crash
 * between the two; 10 s leaves room for a machine that is paging hard.
 */
const UNWRITTEN_LOCK_STALE_MS = 10_000;

function createExclusive(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, String(process.pid));
  } finally {
    closeSync(fd);
  }
  return true;
}

function isStale(path: string): boolean {
  let pid: number | null;
  let mtimeMs: number;
  try {
    pid = readPid(path);
    mtimeMs = statSync(path).mtimeMs;
  } catch {
    // Gone since the create failed: the next round creates it.
    return true;
  }
  if (pid === null) return Date.now() - mtimeMs > UNWRITTEN_LOCK_STALE_MS;
  return !isAlive(pid);
}

function readPid(path: string): number | null {
  const text = readFileSync(path, 'utf8').trim();
  const pid = Number(text);
  return /^\d+$/.test(text) && Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
