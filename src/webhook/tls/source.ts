// What the HTTPS server needs of a TLS mode: a key pair to listen with, each new one, and whether it can serve yet.
//
// Two implementations: FilesTls (files.ts, `--tls-mode=files`: a mounted Secret, cert-manager's or
// the user's) and SecretTls (secret-source.ts, `--tls-mode=self-managed`: the Secret the leader
// keeps current; the leader's certificate work is a controller, self-managed.ts). The setup
// (run.ts) registers the source with the manager, hands the server every new pair, and counts
// and logs them alike for both modes; each source logs its own mode's warnings.
import type { Runnable } from '../../kube/runtime/manager.ts';
import type { PemKeyPair } from './certificates.ts';

/** A new valid pair to serve, and where it came from (the `source` log field). */
export type CertificateListener = (pair: PemKeyPair, source: string) => void;

/** Started (always on, not leader-gated) and stopped by the manager. */
export interface TlsSource extends Runnable {
  /** The pair to listen with: the files' (valid), or a placeholder nobody trusts until the Secret's arrives. */
  readonly initial: PemKeyPair;
  /**
   * Called with each pair to serve once started, once per distinct pair; the files' first pair
   * (`initial`) too, a placeholder never.
   */
  onCertificate(listener: CertificateListener): void;
  /** Called when changed files cannot be served (the previous pair stays): a failed reload. */
  onReloadFailed(listener: (error: Error) => void): void;
  /** Undefined once a trusted certificate can be served, else why not (for /readyz). */
  notReady(): string | undefined;
}
