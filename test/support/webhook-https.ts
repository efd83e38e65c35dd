// The injector's HTTPS server in this process, on loopback with a CA of its own, and a keep-alive client that trusts only that CA.
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request, type RequestOptions } from 'node:https';
import type { TLSSocket } from 'node:tls';
import pino from 'pino';
import { createWebhookMetrics } from '../../src/webhook/metrics.ts';
import { defaultInjectionOptions, type InjectionOptions } from '../../src/webhook/mutate.ts';
import { WebhookServer } from '../../src/webhook/server.ts';
import {
  generateCertificateAuthority,
  issueServingCertificate,
} from '../../src/webhook/tls/certificates.ts';

export interface HttpsReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** A reply with what the TLS connection showed. */
export interface HttpsExchange extends HttpsReply {
  /** SHA-256 fingerprint of the certificate the server presented. */
  readonly fingerprint: string;
  readonly reusedSocket: boolean;
}

/** One HTTPS request, its reply read to the end. */
export function httpsExchange(
  options: RequestOptions,
  body?: string | Buffer,
): Promise<HttpsExchange> {
  return new Promise((resolve, reject) => {
    const req = request(options);
    req.once('error', reject);
    req.once('response', (response) => {
      const socket = response.socket as TLSSocket;
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('error', reject);
      response.once('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          text: Buffer.concat(chunks).toString('utf8'),
          fingerprint,
          reusedSocket: req.reusedSocket,
        }),
      );
    });
    req.end(body);
  });
}

export interface PostOptions {
  readonly headers?: Record<string, string>;
}

export interface HttpsWebhook {
  readonly port: number;
  readonly injection: InjectionOptions;
  /** POST to /inject as the apiserver does (application/json unless `headers` says otherwise). */
  post(body: string | Buffer, options?: PostOptions): Promise<HttpsReply>;
  get(path: string): Promise<HttpsReply>;
  /** Every line the server logged so far. */
  logs(): string;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const DAY_MS = 86_400_000;

export const TEST_INJECTION: InjectionOptions = {
  ...defaultInjectionOptions('0.1.0'),
  connectHost: 'http://onepassword-connect:8080',
};

export interface HttpsWebhookOptions {
  /** How long a request's body may take to arrive (the server's default otherwise). */
  readonly bodyTimeoutMs?: number;
}

export async function startHttpsWebhook(
  injection: InjectionOptions = TEST_INJECTION,
  options: HttpsWebhookOptions = {},
): Promise<HttpsWebhook> {
  const now = new Date();
  const ca = await generateCertificateAuthority({
    now,
    validityMs: DAY_MS,
    commonName: `webhook-https-test@${now.getTime()}`,
  });
  const certificate = await issueServingCertificate(ca, {
    dnsNames: ['op-kube-webhook'],
    ipAddresses: [HOST],
    now,
    validityMs: DAY_MS,
  });
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  const server = new WebhookServer({
    host: HOST,
    port: 0,
    injection,
    metrics: createWebhookMetrics(),
    logger,
    certificate,
    notReady: () => undefined,
    ...(options.bodyTimeoutMs === undefined ? {} : { bodyTimeoutMs: options.bodyTimeoutMs }),
  });
  const port = await server.start();
  // One connection reused, as the apiserver reuses its webhook connections.
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.cert });

  const call = (
    method: string,
    path: string,
    body?: string | Buffer,
    headers?: Record<string, string>,
  ): Promise<HttpsReply> => httpsExchange({ host: HOST, port, path, method, agent, headers }, body);

  return {
    port,
    injection,
    post: (body, options = {}) =>
      call('POST', '/inject', body, { 'content-type': 'application/json', ...options.headers }),
    get: (path) => call('GET', path),
    logs: () => lines.join(''),
    stop: async () => {
      agent.destroy();
      await server.stop();
    },
  };
}
