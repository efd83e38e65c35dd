// A component group's state.json (pids, ports, flags): read if present, written by rename so a crash never leaves half a file.
import { readFile, rename, writeFile } from 'node:fs/promises';

export async function readStateFile<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export async function writeStateFile(path: string, state: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(state, null, 2));
  await rename(`${path}.tmp`, path);
}
