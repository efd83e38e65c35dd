import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { applyPlan, planRotation, type StoredTlsBundle } from '../../../src/webhook/tls/bundle.ts';
import { type RotationOptions } from '../../../src/webhook/tls/rotation-settings.ts';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
const NAMES = ['hook', 'hook.ns', 'hook.ns.svc', 'hook.ns.svc.cluster.local'];

// TLS checks validity against the real clock, so the story is placed around it: the bundle was
// created eight days ago, its CA (10 days) is now due for rotation, the switch follows 10 minutes
// on (within the hour certificates are back-dated by, so the new one is already valid).
const REAL_NOW = Date.now();
const options = (at: number): RotationOptions => ({
  now: new Date(REAL_NOW + at),
  serviceNames: NAMES,
  ipAddresses: ['127.0.0.1'],
  validityMs: 10 * DAY_MS,
  caValidityMs: 10 * DAY_MS,
  rotateBeforeMs: 2 * DAY_MS,
  caPropagationMs: 10 * MINUTE_MS,
});

async function advance(
  bundle: StoredTlsBundle | undefined,
  at: number,
  action: string,
): Promise<StoredTlsBundle> {
  const plan = planRotation(bundle, options(at));
  assert.equal(plan.action, action);
  return applyPlan(bundle, plan, options(at));
}

/** Resolves with the status of a GET over a fresh connection that trusts only `ca`. */
async function get(port: number, ca: string, servername?: string): Promise<number> {
  const req = request({
    host: '127.0.0.1',
    port,
    path: '/',
    ca,
    agent: false,
    ...(servername === undefined ? {} : { servername }),
  });
  req.end();
  const [response] = (await once(req, 'response')) as [{ statusCode?: number; resume(): void }];
  response.resume();
  return response.statusCode ?? 0;
}

describe('TLS handshakes with self-managed certificates', () => {
  let created: StoredTlsBundle;
  let phase1: StoredTlsBundle;
  let phase2: StoredTlsBundle;
  let server: Server;
  let port: number;

  before(async () => {
    created = await advance(undefined, -8 * DAY_MS - MINUTE_MS, 'create');
    phase1 = await advance(created, 0, 'rotate-ca');
    phase2 = await advance(phase1, 10 * MINUTE_MS, 'rotate-serving');
    server = createServer({ cert: created['tls.crt'], key: created['tls.key'] }, (_req, res) => {
      res.end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('is trusted through ca.crt alone, by Service name and by IP address', async () => {
    server.setSecureContext({ cert: created['tls.crt'], key: created['tls.key'] });
    assert.equal(await get(port, created['ca.crt'], 'hook.ns.svc'), 200);
    assert.equal(await get(port, created['ca.crt'], 'hook.ns.svc.cluster.local'), 200);
    assert.equal(await get(port, created['ca.crt']), 200);
    await assert.rejects(get(port, created['ca.crt'], 'other.ns.svc'), /altnames|Hostname/i);
  });

  it('trusts the old and the new CA during the overlap, whichever certificate a replica serves', async () => {
    assert.equal(phase1['ca.crt'], phase2['ca.crt']);
    // Step 1: the old CA's certificate, validated against the two-CA bundle.
    server.setSecureContext({ cert: phase1['tls.crt'], key: phase1['tls.key'] });
    assert.equal(await get(port, phase1['ca.crt'], 'hook.ns.svc'), 200);
    // An apiserver that has not seen the new bundle yet still trusts what is served.
    assert.equal(await get(port, created['ca.crt'], 'hook.ns.svc'), 200);
    // Step 2: the new CA's certificate, reloaded without restarting the server.
    server.setSecureContext({ cert: phase2['tls.crt'], key: phase2['tls.key'] });
    assert.equal(await get(port, phase1['ca.crt'], 'hook.ns.svc'), 200);
    assert.equal(await get(port, phase1['ca.crt']), 200);
  });

  it('fails for a client that never received the new CA: why the switch waits', async () => {
    server.setSecureContext({ cert: phase2['tls.crt'], key: phase2['tls.key'] });
    await assert.rejects(
      get(port, created['ca.crt'], 'hook.ns.svc'),
      (error: NodeJS.ErrnoException) => {
        assert.match(error.code ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
        return true;
      },
    );
  });
});
