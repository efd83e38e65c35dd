// A cross-process lock (a directory holding the owner's pid) so two runs never build into one cache.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from './processes.ts';

async function ownerOf(lockDir: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(join(lockDir, 'pid'), 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `work` while holding `lockDir`; waits for a live holder, takes over from a dead one. */
export async function withDirectoryLock<T>(
  lockDir: string,
  log: (line: string) => void,
  work: () => Promise<T>,
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
      if (owner !== undefined && !isAlive(owner)) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (!announced) log(`waiting for another build (pid ${owner ?? '?'}) holding ${lockDir}`);
      announced = true;
      await sleep(2000);
    }
  }
  try {
    return await work();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}
