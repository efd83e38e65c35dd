// The audit log behind GET /v1/activity: requests with a valid token and requests without one are
// bounded apart, so that a flood of anonymous requests can never push an authenticated entry out.
import { join } from 'node:path';
import type { ApiRequest } from '../connect/index.ts';
import { Journal, readJournal, type JournalFiles } from './journal.ts';

export const ACTIVITY_FILE = 'activity.jsonl';
/** The previous generation of the log, kept so that, together, the two hold the retention. */
export const ACTIVITY_PREVIOUS_FILE = 'activity.1.jsonl';
export const ANONYMOUS_ACTIVITY_FILE = 'activity-anonymous.jsonl';
export const ANONYMOUS_ACTIVITY_PREVIOUS_FILE = 'activity-anonymous.1.jsonl';

export interface ActivityLogOptions {
  /** How many requests made with a valid token to keep; older ones are dropped (memory and disk). */
  readonly retention: number;
  /** How many requests without a valid token (none, malformed, forged, expired, revoked) to keep. */
  readonly anonymousRetention: number;
  /** How often buffered entries are appended to disk. */
  readonly flushIntervalMs?: number;
  /** A failed append loses that batch from disk (memory keeps it); the server logs it. */
  readonly onError?: (error: unknown) => void;
}

/** A request no valid token vouches for: its actor has no id (the jti of a verified token). */
export function isAnonymous(entry: ApiRequest): boolean {
  return entry.actor.id === '';
}

function isApiRequest(value: unknown): value is ApiRequest {
  const entry = value as Partial<ApiRequest> | null;
  return (
    typeof entry === 'object' &&
    entry !== null &&
    typeof entry.timestamp === 'string' &&
    typeof entry.actor === 'object' &&
    entry.actor !== null &&
    typeof entry.actor.id === 'string'
  );
}

/** Two chronological lists as one; on equal timestamps the authenticated entry comes first. */
export function mergeByTime(
  first: readonly ApiRequest[],
  second: readonly ApiRequest[],
): ApiRequest[] {
  const merged: ApiRequest[] = [];
  let i = 0;
  let j = 0;
  while (i < first.length && j < second.length) {
    const a = first[i] as ApiRequest;
    const b = second[j] as ApiRequest;
    if (a.timestamp <= b.timestamp) {
      merged.push(a);
      i += 1;
    } else {
      merged.push(b);
      j += 1;
    }
  }
  return merged.concat(first.slice(i), second.slice(j));
}

const byTime = (a: ApiRequest, b: ApiRequest): number =>
  a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0;

export class ActivityLog {
  readonly #authenticated: Journal<ApiRequest>;
  readonly #anonymous: Journal<ApiRequest>;
  readonly #timer: NodeJS.Timeout;
  readonly #onError: (error: unknown) => void;
  #merged: ApiRequest[] | undefined;

  private constructor(
    authenticated: Journal<ApiRequest>,
    anonymous: Journal<ApiRequest>,
    options: ActivityLogOptions,
  ) {
    this.#authenticated = authenticated;
    this.#anonymous = anonymous;
    this.#onError = options.onError ?? (() => undefined);
    this.#timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 1000);
    this.#timer.unref();
  }

  static async open(stateDir: string, options: ActivityLogOptions): Promise<ActivityLog> {
    const files = (current: string, previous: string): JournalFiles => ({
      current: join(stateDir, current),
      previous: join(stateDir, previous),
    });
    const authenticatedFiles = files(ACTIVITY_FILE, ACTIVITY_PREVIOUS_FILE);
    const anonymousFiles = files(ANONYMOUS_ACTIVITY_FILE, ANONYMOUS_ACTIVITY_PREVIOUS_FILE);
    const [fromAuthenticated, fromAnonymous] = await Promise.all([
      readJournal(authenticatedFiles),
      readJournal(anonymousFiles),
    ]);
    // A log written before the two were kept apart holds both kinds in the first pair of files.
    const all = [...fromAuthenticated.entries, ...fromAnonymous.entries].filter(isApiRequest);
    const authenticated = all.filter((entry) => !isAnonymous(entry)).sort(byTime);
    const anonymous = all.filter(isAnonymous).sort(byTime);
    return new ActivityLog(
      new Journal(authenticatedFiles, options.retention, authenticated, fromAuthenticated.current),
      new Journal(anonymousFiles, options.anonymousRetention, anonymous, fromAnonymous.current),
      options,
    );
  }

  record(entry: ApiRequest): void {
    (isAnonymous(entry) ? this.#anonymous : this.#authenticated).append(entry);
    this.#merged = undefined;
  }

  /** Oldest first, both kinds interleaved by time, after dropping what retention no longer keeps. */
  page(offset: number, limit: number): ApiRequest[] {
    return this.#view().slice(offset, offset + limit);
  }

  count(): number {
    return this.#view().length;
  }

  #view(): ApiRequest[] {
    this.#merged ??= mergeByTime(this.#authenticated.entries(), this.#anonymous.entries());
    return this.#merged;
  }

  flush(): Promise<void> {
    return Promise.all([
      this.#authenticated.flush(this.#onError),
      this.#anonymous.flush(this.#onError),
    ]).then(() => undefined);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
