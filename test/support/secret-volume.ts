// A Secret volume as the kubelet writes it, for tests of code that must follow certificate rotation on disk.
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PemKeyPair } from '../../src/webhook/tls/certificates.ts';

/**
 * Files in a timestamped directory, a `..data` symlink to it, and `tls.crt`/`tls.key` symlinks
 * through `..data`. `publish` swaps in a new directory the kubelet's way: a `..data_tmp` symlink
 * renamed over `..data`, then the old directory removed.
 */
export class SecretVolume {
  readonly dir: string;
  #generation = 0;
  #current: string | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  get certFile(): string {
    return join(this.dir, 'tls.crt');
  }

  get keyFile(): string {
    return join(this.dir, 'tls.key');
  }

  async publish(pair: PemKeyPair): Promise<void> {
    this.#generation += 1;
    const name = `..2026_01_01_00_00_00.${String(this.#generation).padStart(9, '0')}`;
    await mkdir(join(this.dir, name));
    await writeFile(join(this.dir, name, 'tls.crt'), pair.cert, { mode: 0o644 });
    await writeFile(join(this.dir, name, 'tls.key'), pair.key, { mode: 0o600 });
    await symlink(name, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.#current === undefined) {
      await symlink('..data/tls.crt', this.certFile);
      await symlink('..data/tls.key', this.keyFile);
    } else {
      await rm(join(this.dir, this.#current), { recursive: true });
    }
    this.#current = name;
  }
}
