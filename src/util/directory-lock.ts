// A cross-process lock: a directory holding the owner's pid, taken over when that owner is dead.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A lock without a readable pid this old was left by a crash between its creation steps. */
const ORPHAN_AFTER_MS = 10_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function ownerOf(lockDir: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(join(lockDir, 'pid'), 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function isStale(lockDir: string): Promise<boolean> {
  const owner = await ownerOf(lockDir);
  if (owner !== undefined) return !isAlive(owner);
  const info = await stat(lockDir).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > ORPHAN_AFTER_MS;
}

function uniqueSibling(path: string, tag: string): string {
  return `${path}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export interface LockOptions {
  /** Called once when the lock is held by another live process. */
  readonly onWait?: (ownerPid: number | undefined) => void;
  readonly pollMs?: number;
}

/**
 * Runs `work` while holding `lockDir`. The lock directory appears with its pid file already inside
 * (made aside, then renamed into place), so a holder is always identifiable; a dead holder's lock is
 * moved away atomically, so two waiters can never both take it over.
 */
export async function withDirectoryLock<T>(
  lockDir: string,
  work: () => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  await mkdir(dirname(lockDir), { recursive: true });
  const candidate = uniqueSibling(lockDir, 'new');
  await mkdir(candidate);
  await writeFile(join(candidate, 'pid'), String(process.pid));
  let announced = false;
  try {
    for (;;) {
      try {
        await rename(candidate, lockDir);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw error;
      }
      if (await isStale(lockDir)) {
        const trash = uniqueSibling(lockDir, 'stale');
        await rename(lockDir, trash).then(
          () => rm(trash, { recursive: true, force: true }),
          () => undefined, // someone else moved it first
        );
        continue;
      }
      if (!announced) options.onWait?.(await ownerOf(lockDir));
      announced = true;
      await sleep(options.pollMs ?? 50);
    }
  } catch (error) {
    await rm(candidate, { recursive: true, force: true });
    throw error;
  }
  try {
    return await work();
  } finally {
    // Moved away first, then removed: removing it in place empties it for a moment, and rename(2)
    // lets a waiter's directory replace an empty one, whose pid file the removal then trips over.
    const released = uniqueSibling(lockDir, 'released');
    await rename(lockDir, released);
    await rm(released, { recursive: true, force: true });
  }
}
