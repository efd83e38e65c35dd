// `--tls-mode=files`, apart from the in-cluster modes of tls-mode.ts so that a webhook serving files
// loads neither the Kubernetes client nor the certificate authority (docs/benchmarks.md, Webhook).
import type { Logger } from 'pino';
import { Manager } from '../kube/runtime/manager.ts';
import { WebhookSettingError, type WebhookTlsConfig } from './config.ts';
import { FilesTls } from './tls/files.ts';
import type { TlsSource } from './tls/source.ts';

export interface Mode {
  readonly manager: Manager;
  readonly tls: TlsSource;
  /**
   * Run when shutdown begins, while the server still answers: removes what must not send the
   * apiserver here once it stops (the configuration `--register-url` created).
   */
  readonly beforeServerStops?: () => Promise<void>;
}

/** `--tls-mode=files`: the pair in the files, then each new one; no apiserver, no election. */
export async function filesMode(
  tlsConfig: Extract<WebhookTlsConfig, { mode: 'files' }>,
  logger: Logger,
): Promise<Mode> {
  const { certFile, keyFile } = tlsConfig;
  const tls = await FilesTls.load({ certFile, keyFile, logger }).catch((error: unknown) => {
    throw new WebhookSettingError(
      '--tls-cert-file',
      error instanceof Error ? error.message : String(error),
      { cause: error },
    );
  });
  return { manager: new Manager(), tls };
}
