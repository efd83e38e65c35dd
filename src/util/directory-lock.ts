// A cross-process lock: a directory holding the owner's pid, taken over when that owner is dead.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

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

export interface LockOptions {
  /** Called once when the lock is held by another live process. */
  readonly onWait?: (ownerPid: number | undefined) => void;
  readonly pollMs?: number;
}

/** Runs `work` while holding `lockDir`; waits for a live holder, takes over from a dead one. */
export async function withDirectoryLock<T>(
  lockDir: string,
  work: () => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  let announced = false;
  await mkdir(dirname(lockDir), { recursive: true });
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = await ownerOf(lockDir);
      // No pid yet means the owner is between mkdir and writeFile: treat it as alive.
      if (owner !== undefined && !isAlive(owner)) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (!announced) options.onWait?.(owner);
      announced = true;
      await sleep(options.pollMs ?? 50);
    }
  }
  try {
    return await work();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}
