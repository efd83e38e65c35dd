// The audit log behind GET /v1/activity: kept in memory, appended to disk in batches, bounded.
import { appendFile, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiRequest } from '../models.ts';

export const ACTIVITY_FILE = 'activity.jsonl';
/** The previous generation of the log, kept so that, together, the two hold the retention. */
export const ACTIVITY_PREVIOUS_FILE = 'activity.1.jsonl';

export interface ActivityLogOptions {
  /** How many requests to keep; older ones are dropped (memory and disk). */
  readonly retention: number;
  /** How often buffered entries are appended to disk. */
  readonly flushIntervalMs?: number;
  /** A failed append loses that batch from disk (memory keeps it); the server logs it. */
  readonly onError?: (error: unknown) => void;
}

export class ActivityLog {
  readonly #path: string;
  readonly #previousPath: string;
  readonly #retention: number;
  #entries: ApiRequest[] = [];
  #pending: string[] = [];
  #linesOnDisk = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #onError: (error: unknown) => void = () => undefined;

  private constructor(stateDir: string, retention: number) {
    this.#path = join(stateDir, ACTIVITY_FILE);
    this.#previousPath = join(stateDir, ACTIVITY_PREVIOUS_FILE);
    this.#retention = retention;
  }

  static async open(stateDir: string, options: ActivityLogOptions): Promise<ActivityLog> {
    const log = new ActivityLog(stateDir, Math.max(1, options.retention));
    if (options.onError) log.#onError = options.onError;
    const read = async (path: string): Promise<string[]> => {
      try {
        return (await readFile(path, 'utf8')).split('\n').filter(Boolean);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
    };
    const current = await read(log.#path);
    log.#linesOnDisk = current.length;
    const lines = [...(await read(log.#previousPath)), ...current];
    for (const line of lines.slice(-log.#retention)) {
      try {
        log.#entries.push(JSON.parse(line) as ApiRequest);
      } catch {
        // A line cut short by a crash mid-append is dropped; every complete line survives.
      }
    }
    log.#timer = setInterval(() => void log.flush(), options.flushIntervalMs ?? 1000);
    log.#timer.unref();
    return log;
  }

  record(entry: ApiRequest): void {
    this.#entries.push(entry);
    if (this.#entries.length > this.#retention * 2) {
      this.#entries = this.#entries.slice(-this.#retention);
    }
    this.#pending.push(JSON.stringify(entry));
  }

  /** Oldest first, after dropping what retention no longer keeps. */
  page(offset: number, limit: number): ApiRequest[] {
    const kept = this.#entries.slice(-this.#retention);
    return kept.slice(offset, offset + limit);
  }

  count(): number {
    return Math.min(this.#entries.length, this.#retention);
  }

  /**
   * Appends buffered entries in one write. Once the current file holds the retention it becomes
   * the previous generation (a rename, not a rewrite), so disk use stays under twice the retention.
   */
  flush(): Promise<void> {
    this.#flushing = this.#flushing
      .then(async () => {
        if (this.#pending.length === 0) return;
        const batch = this.#pending;
        this.#pending = [];
        if (this.#linesOnDisk >= this.#retention) {
          await rename(this.#path, this.#previousPath);
          this.#linesOnDisk = 0;
        }
        await appendFile(this.#path, `${batch.join('\n')}\n`, { mode: 0o600 });
        this.#linesOnDisk += batch.length;
      })
      .catch((error: unknown) => this.#onError(error));
    return this.#flushing;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
  }
}
