// `--tls-mode=files`: serve the key pair in two files, and each new pair written to them (see src/util/tls-files.ts).
import type { Logger } from 'pino';
import type { PemKeyPair } from './certificates.ts';
import {
  loadKeyPair,
  watchCertificateFiles,
  type CertificateFileWatch,
} from '../../util/tls-files.ts';
import type { CertificateListener, TlsSource } from './source.ts';

export interface FilesTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly logger: Logger;
}

export class FilesTls implements TlsSource {
  readonly initial: PemKeyPair;
  readonly #options: FilesTlsOptions;
  readonly #certificateListeners: CertificateListener[] = [];
  readonly #failureListeners: ((error: Error) => void)[] = [];
  #watch: CertificateFileWatch | undefined;

  /** Reads and checks the files; throws a TlsKeyPairError when they cannot be served. */
  static async load(options: FilesTlsOptions): Promise<FilesTls> {
    return new FilesTls(options, await loadKeyPair(options.certFile, options.keyFile));
  }

  private constructor(options: FilesTlsOptions, initial: PemKeyPair) {
    this.#options = options;
    this.initial = initial;
  }

  onCertificate(listener: CertificateListener): void {
    this.#certificateListeners.push(listener);
  }

  onReloadFailed(listener: (error: Error) => void): void {
    this.#failureListeners.push(listener);
  }

  /** The files held a valid pair at load, and a later pair is served only once valid. */
  notReady(): undefined {
    return undefined;
  }

  /** Hands over the loaded pair, then watches the files for the next. */
  start(): void {
    const { certFile, keyFile, logger } = this.#options;
    this.#emit(this.initial, 'files');
    this.#watch = watchCertificateFiles({
      certFile,
      keyFile,
      current: this.initial,
      onChange: (pair) => this.#emit(pair, `${certFile} and ${keyFile}`),
      onError: (error) => {
        for (const listener of this.#failureListeners) listener(error);
        logger.warn(
          { err: error },
          'certificate files changed but cannot be used; serving the previous certificate',
        );
      },
    });
  }

  stop(): Promise<void> {
    this.#watch?.close();
    return Promise.resolve();
  }

  #emit(pair: PemKeyPair, source: string): void {
    for (const listener of this.#certificateListeners) listener(pair, source);
  }
}
