// The audit log behind GET /v1/activity: kept in memory, appended to disk in batches, bounded.
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiRequest } from '../models.ts';
import { writeFileAtomic } from '../../util/atomic-file.ts';

export const ACTIVITY_FILE = 'activity.jsonl';

export interface ActivityLogOptions {
  /** How many requests to keep; older ones are dropped (memory and disk). */
  readonly retention: number;
  /** How often buffered entries are appended to disk. */
  readonly flushIntervalMs?: number;
}

export class ActivityLog {
  readonly #path: string;
  readonly #retention: number;
  #entries: ApiRequest[] = [];
  #pending: string[] = [];
  #linesOnDisk = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  private constructor(stateDir: string, retention: number) {
    this.#path = join(stateDir, ACTIVITY_FILE);
    this.#retention = retention;
  }

  static async open(stateDir: string, options: ActivityLogOptions): Promise<ActivityLog> {
    const log = new ActivityLog(stateDir, Math.max(1, options.retention));
    let text = '';
    try {
      text = await readFile(log.#path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const lines = text.split('\n').filter(Boolean);
    log.#linesOnDisk = lines.length;
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

  get total(): number {
    return this.#entries.length;
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

  /** Appends buffered entries in one write; compacts the file once it holds twice the retention. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing
      .then(async () => {
        if (this.#pending.length === 0) return;
        const batch = this.#pending;
        this.#pending = [];
        if (this.#linesOnDisk + batch.length > this.#retention * 2) {
          const kept = this.#entries.slice(-this.#retention).map((entry) => JSON.stringify(entry));
          await writeFileAtomic(this.#path, `${kept.join('\n')}\n`, 0o600);
          this.#linesOnDisk = kept.length;
        } else {
          await appendFile(this.#path, `${batch.join('\n')}\n`, { mode: 0o600 });
          this.#linesOnDisk += batch.length;
        }
      })
      .catch(() => undefined);
    return this.#flushing;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
  }
}
