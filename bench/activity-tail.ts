// connect-local's activity log (activity.jsonl in its state dir), followed while a benchmark runs:
// the time of every request one token made, kept as numbers. Read as it grows, so that no entry is
// lost when the log rotates (connect-local renames a full file to activity.1.jsonl and starts a new
// one) however many requests an operator makes: 1Password's makes over a thousand a second and
// never stops, and reading the files at the end kept only the last retention's worth.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { ApiRequest } from '../src/connect/index.ts';

export class ActivityTail {
  readonly #file: string;
  readonly #jti: string;
  #handle: FileHandle | undefined;
  #inode = -1;
  #offset = 0;
  #partial = '';
  #decoder = new StringDecoder('utf8');
  #reading: Promise<void> | undefined;
  /** Milliseconds since the epoch of each request of the token, in log order. */
  readonly #times: number[] = [];
  /** The same, for `GET /v1/vaults` (a vault resource without a vault id). */
  readonly #vaultLists: number[] = [];

  /** `jti`: the token whose requests count ('' counts every request with a valid token). */
  constructor(stateDir: string, jti: string) {
    this.#file = join(stateDir, 'activity.jsonl');
    this.#jti = jti;
  }

  /** Reads what was appended since the last read (one read at a time). */
  read(): Promise<void> {
    this.#reading ??= this.#readAll().finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  async #readAll(): Promise<void> {
    for (;;) {
      if (!this.#handle) {
        try {
          this.#handle = await open(this.#file, 'r');
        } catch {
          return; // not written yet
        }
        this.#inode = (await this.#handle.stat()).ino;
        this.#offset = 0;
        this.#partial = '';
        this.#decoder = new StringDecoder('utf8');
      }
      await this.#drain(this.#handle);
      // Rotated: the file read so far now has another name; once drained, go on with the new one.
      const current = await stat(this.#file).catch(() => undefined);
      if (!current || current.ino === this.#inode) return;
      await this.#drain(this.#handle);
      await this.#handle.close();
      this.#handle = undefined;
    }
  }

  async #drain(handle: FileHandle): Promise<void> {
    const buffer = Buffer.alloc(1 << 20);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.#offset);
      if (bytesRead === 0) return;
      this.#offset += bytesRead;
      const lines = (this.#partial + this.#decoder.write(buffer.subarray(0, bytesRead))).split(
        '\n',
      );
      this.#partial = lines.pop() ?? '';
      for (const line of lines) this.#add(line);
    }
  }

  #add(line: string): void {
    if (!line) return;
    let entry: ApiRequest;
    try {
      entry = JSON.parse(line) as ApiRequest;
    } catch {
      return;
    }
    if (entry.actor.id === '' || (this.#jti && entry.actor.jti !== this.#jti)) return;
    const at = Date.parse(entry.timestamp);
    this.#times.push(at);
    if (entry.resource.type === 'VAULT' && entry.resource.vault.id === '')
      this.#vaultLists.push(at);
  }

  /** Requests of the token in [from, to). */
  count(from: number, to: number): number {
    return this.#times.filter((at) => at >= from && at < to).length;
  }

  /** `GET /v1/vaults` of the token in [from, to). */
  vaultLists(from: number, to: number): number {
    return this.#vaultLists.filter((at) => at >= from && at < to).length;
  }

  async close(): Promise<void> {
    await this.#reading;
    await this.#handle?.close();
    this.#handle = undefined;
  }
}
