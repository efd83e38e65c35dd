// Health probes over mutual TLS, used to tell when a component has really come up.
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TlsIdentity {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

export interface ProbeResponse {
  readonly status: number;
  readonly body: string;
}

/** One HTTPS GET with a hard timeout; rejects on connection errors. */
export function httpsGet(
  url: string,
  identity: TlsIdentity,
  timeoutMs = 5000,
): Promise<ProbeResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        ca: identity.ca,
        cert: identity.cert,
        key: identity.key,
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Polls `check` until it returns true, `abort` resolves (the process died) or `timeoutMs` passes.
 * Returns the last failure so the caller can say why it gave up.
 */
export async function waitUntil(
  description: string,
  check: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; abort?: Promise<string> },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let reason: string | undefined;
  // A call, not the variable: the compiler cannot see the abort callback set it between checks.
  const abortedWith = (): string | undefined => reason;
  // A check in flight does not hold off the abort: a probe of a port some other process answers
  // (and never completes) would otherwise wait out its own timeout first.
  const abort = options.abort?.then((why) => {
    reason = why;
    return false;
  });
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    const aborted = abortedWith();
    if (aborted !== undefined) throw new Error(`${description}: ${aborted}`);
    try {
      const checking = check();
      if (await (abort ? Promise.race([checking, abort]) : checking)) return;
      checking.catch(() => undefined);
      lastError = 'not ready';
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    const abortedAfter = abortedWith();
    if (abortedAfter !== undefined) throw new Error(`${description}: ${abortedAfter}`);
    await sleep(options.intervalMs ?? 200);
  }
  throw new Error(`${description}: not ready after ${options.timeoutMs} ms (${lastError})`);
}
