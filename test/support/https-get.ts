// GET over HTTPS as a scraper of the operator's self-signed /metrics does (insecureSkipVerify), with an optional bearer token.
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface HttpsAnswer {
  readonly status: number;
  readonly body: string;
  /** The served certificate's common name. */
  readonly subject: string;
}

export function getInsecure(url: string, token?: string): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        // The self-signed certificate verifies nothing (Prometheus: insecureSkipVerify).
        rejectUnauthorized: false,
        agent: false,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            subject: String((res.socket as TLSSocket).getPeerCertificate().subject.CN),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}
