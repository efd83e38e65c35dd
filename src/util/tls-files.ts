// Reloads the serving key pair from files that change under a running server, with no restart.
//
// Kubernetes updates a mounted Secret (cert-manager's, the user's, or op-kube's own) by writing a
// new timestamped directory and renaming a `..data` symlink over the old one; `tls.crt` and
// `tls.key` are symlinks through `..data` and never change themselves. A watch on the files misses
// that swap, so the directory holding them is watched instead. fs.watch is unreliable on some
// filesystems (network and overlay mounts, some container runtimes) and a watched directory can be
// removed, so a slow poll compares the files' content as well and re-creates lost watches. The new
// pair is handed over only once it parses and the key matches the certificate: a pair half written
// by a tool that replaces the files one at a time is skipped until the other half arrives.
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import { OpKubeError } from '../kube/errors.ts';

/** A certificate and its private key, both PEM (the key PKCS #8). */
export interface PemKeyPair {
  readonly cert: string;
  readonly key: string;
}

function contentHash(...parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex');
}

/** Why a key pair cannot be served. Messages name files, never key material. */
export type TlsKeyPairProblem =
  'Unreadable' | 'InvalidCertificate' | 'InvalidKey' | 'KeyMismatch' | 'Rejected';

export class TlsKeyPairError extends OpKubeError<TlsKeyPairProblem> {
  override readonly name = 'TlsKeyPairError';
}

/**
 * Throws a TlsKeyPairError unless `pair` can be served: the certificate and the key parse, the key
 * is the certificate's, and OpenSSL accepts the two as a secure context. `source` names where the
 * pair came from in messages.
 */
export function validateKeyPair(pair: PemKeyPair, source = 'the key pair'): void {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pair.cert);
  } catch (error) {
    throw new TlsKeyPairError('InvalidCertificate', `${source}: the certificate does not parse`, {
      cause: error,
    });
  }
  let key;
  try {
    key = createPrivateKey(pair.key);
  } catch (error) {
    throw new TlsKeyPairError('InvalidKey', `${source}: the private key does not parse`, {
      cause: error,
    });
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new TlsKeyPairError('KeyMismatch', `${source}: the key is not the certificate's`);
  }
  try {
    createSecureContext({ cert: pair.cert, key: pair.key });
  } catch (error) {
    throw new TlsKeyPairError('Rejected', `${source}: TLS refuses the pair`, { cause: error });
  }
}

/**
 * Reads the certificate, the key, then the certificate again, until the two certificate reads
 * agree: a `..data` swap between the two files' reads would otherwise pair the old certificate
 * with the new key and report a mismatch that is not there.
 */
async function readPair(certFile: string, keyFile: string): Promise<PemKeyPair> {
  try {
    let cert = await readFile(certFile, 'utf8');
    for (let attempt = 0; ; attempt += 1) {
      const key = await readFile(keyFile, 'utf8');
      const again = await readFile(certFile, 'utf8');
      if (again === cert || attempt === 2) return { cert: again, key };
      cert = again;
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new TlsKeyPairError('Unreadable', `cannot read ${certFile} and ${keyFile} (${code})`, {
      cause: error,
    });
  }
}

/** Reads a certificate and its key, as for `https.createServer`; throws a TlsKeyPairError. */
export async function loadKeyPair(certFile: string, keyFile: string): Promise<PemKeyPair> {
  const pair = await readPair(certFile, keyFile);
  validateKeyPair(pair, `${certFile} and ${keyFile}`);
  return pair;
}

export interface CertificateFileWatchOptions {
  readonly certFile: string;
  readonly keyFile: string;
  /**
   * Called with each new valid pair (typically `server.setSecureContext(pair)`); an error it
   * throws goes to onError.
   */
  readonly onChange: (pair: PemKeyPair) => void;
  /**
   * Called when the files cannot be read, hold an unusable pair, or cannot be watched; once per
   * distinct problem, not on every look.
   */
  readonly onError: (error: Error) => void;
  /** The pair being served already: no onChange until the files differ from it. */
  readonly current?: PemKeyPair;
  /** Quiet time after a filesystem event before the files are read. Default 250 ms. */
  readonly debounceMs?: number;
  /** Interval of the content comparison that backs up fs.watch. Default 10 s. */
  readonly pollIntervalMs?: number;
}

export interface CertificateFileWatch {
  /** Reads the files now (resolves once read and handed over); looks are never run in parallel. */
  check(): Promise<void>;
  /** Stops watching and polling; no callback runs afterwards. */
  close(): void;
}

/**
 * Watches `certFile` and `keyFile` and calls onChange whenever they hold a new valid pair. Without
 * `current`, the first valid pair read (at once) is handed over too. Timers and watches do not
 * keep the process alive.
 */
export function watchCertificateFiles(options: CertificateFileWatchOptions): CertificateFileWatch {
  const { certFile, keyFile } = options;
  const debounceMs = options.debounceMs ?? 250;
  const pollIntervalMs = options.pollIntervalMs ?? 10_000;
  const directories = [...new Set([dirname(certFile), dirname(keyFile)])];
  const watchers = new Map<string, FSWatcher>();
  // The content last looked at, valid or not: each distinct content is acted on once.
  let seen = options.current ? contentHash(options.current.cert, options.current.key) : undefined;
  let reported: string | undefined;
  let closed = false;
  let running: Promise<void> | undefined;
  let again = false;
  let debounce: NodeJS.Timeout | undefined;

  const report = (error: Error): void => {
    if (closed || error.message === reported) return;
    reported = error.message;
    options.onError(error);
  };

  const look = async (): Promise<void> => {
    let pair: PemKeyPair;
    try {
      pair = await readPair(certFile, keyFile);
    } catch (error) {
      report(error as Error);
      return;
    }
    reported = undefined;
    const hash = contentHash(pair.cert, pair.key);
    if (hash === seen || closed) return;
    seen = hash;
    try {
      validateKeyPair(pair, `${certFile} and ${keyFile}`);
    } catch (error) {
      report(error as Error);
      return;
    }
    try {
      options.onChange(pair);
    } catch (error) {
      report(error instanceof Error ? error : new Error(String(error)));
    }
  };

  const check = (): Promise<void> => {
    if (closed) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await look();
      } while (again && !closed);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = (): void => {
    if (closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => void check(), debounceMs);
    debounce.unref();
  };

  const startWatching = (directory: string): void => {
    if (closed || watchers.has(directory)) return;
    try {
      const watcher = watch(directory, { persistent: false }, schedule);
      watcher.on('error', (error) => {
        watcher.close();
        watchers.delete(directory);
        report(new Error(`stopped watching ${directory}: ${error.message}`, { cause: error }));
        schedule();
      });
      watchers.set(directory, watcher);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      report(new Error(`cannot watch ${directory} (${code}); polling only`, { cause: error }));
    }
  };

  for (const directory of directories) startWatching(directory);
  const poll = setInterval(() => {
    for (const directory of directories) startWatching(directory);
    void check();
  }, pollIntervalMs);
  poll.unref();
  void check();

  return {
    check,
    close(): void {
      closed = true;
      clearTimeout(debounce);
      clearInterval(poll);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}
