// A bounded list of JSON entries: kept in memory, appended to disk in batches, in two generations.
import { appendFile, readFile, rename } from 'node:fs/promises';

export interface JournalFiles {
  /** Appended to. */
  readonly current: string;
  /** The previous generation, kept so that, together, the two hold the retention. */
  readonly previous: string;
}

/** The complete lines of the two generations, oldest first; a line cut short by a crash is dropped. */
export async function readJournal(
  files: JournalFiles,
): Promise<{ entries: unknown[]; current: number }> {
  const read = async (path: string): Promise<string[]> => {
    try {
      return (await readFile(path, 'utf8')).split('\n').filter(Boolean);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  };
  const current = await read(files.current);
  const entries: unknown[] = [];
  for (const line of [...(await read(files.previous)), ...current]) {
    try {
      entries.push(JSON.parse(line) as unknown);
    } catch {
      // A crash mid-append leaves a partial last line; every complete line survives.
    }
  }
  return { entries, current: current.length };
}

export class Journal<T> {
  readonly #files: JournalFiles;
  readonly #retention: number;
  #entries: T[];
  #pending: string[] = [];
  #linesOnDisk: number;
  #flushing: Promise<void> = Promise.resolve();

  /** `linesOnDisk`: how many lines the current generation already holds. */
  constructor(files: JournalFiles, retention: number, entries: T[], linesOnDisk: number) {
    this.#files = files;
    this.#retention = Math.max(1, retention);
    this.#entries = entries.slice(-this.#retention);
    this.#linesOnDisk = linesOnDisk;
  }

  get retention(): number {
    return this.#retention;
  }

  append(entry: T): void {
    this.#entries.push(entry);
    // Trimmed in steps, not on every append: a slice per request would cost O(retention) each.
    if (this.#entries.length > this.#retention * 2) {
      this.#entries = this.#entries.slice(-this.#retention);
    }
    this.#pending.push(JSON.stringify(entry));
    // Between flushes a flood could buffer without bound; what retention drops need not be written.
    if (this.#pending.length > this.#retention * 2) {
      this.#pending = this.#pending.slice(-this.#retention);
    }
  }

  /** What retention keeps, oldest first. */
  entries(): T[] {
    return this.#entries.length > this.#retention
      ? this.#entries.slice(-this.#retention)
      : this.#entries;
  }

  /**
   * Appends buffered entries (at most the retention) in one write. Once the current file holds the
   * retention it becomes the previous generation (a rename, not a rewrite), so each file stays under
   * twice the retention, whatever the request rate.
   */
  flush(onError: (error: unknown) => void): Promise<void> {
    this.#flushing = this.#flushing
      .then(async () => {
        if (this.#pending.length === 0) return;
        const batch = this.#pending.slice(-this.#retention);
        this.#pending = [];
        if (this.#linesOnDisk >= this.#retention) {
          await rename(this.#files.current, this.#files.previous);
          this.#linesOnDisk = 0;
        }
        await appendFile(this.#files.current, `${batch.join('\n')}\n`, { mode: 0o600 });
        this.#linesOnDisk += batch.length;
      })
      .catch(onError);
    return this.#flushing;
  }
}
