import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  applyPlan,
  caBundleOf,
  planRotation,
  reconcileTlsBundle,
  tlsBundleFromSecretData,
  tlsBundleToSecretData,
  type KeepPlan,
  type RotationPlan,
  type StoredTlsBundle,
} from '../../../src/webhook/tls/bundle.ts';
import {
  PUBLISH_RECHECK_MS,
  type RotationOptions,
} from '../../../src/webhook/tls/rotation-settings.ts';
import {
  describeCertificate,
  generateCertificateAuthority,
  isIssuedBy,
  issueServingCertificate,
  splitPemCertificates,
} from '../../../src/webhook/tls/certificates.ts';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
const T0 = new Date('2026-01-01T00:00:00Z');
const NAMES = ['hook', 'hook.ns', 'hook.ns.svc', 'hook.ns.svc.cluster.local'];

/** Serving certificates for 10 days, CAs for 50, both replaced 2 days before they expire. */
function options(at: number | Date, overrides: Partial<RotationOptions> = {}): RotationOptions {
  return {
    now: typeof at === 'number' ? new Date(T0.getTime() + at) : at,
    serviceNames: NAMES,
    ipAddresses: ['10.0.0.7'],
    validityMs: 10 * DAY_MS,
    rotateBeforeMs: 2 * DAY_MS,
    caPropagationMs: 10 * MINUTE_MS,
    ...overrides,
  };
}

async function step(
  bundle: Partial<StoredTlsBundle> | undefined,
  at: number,
  expected: RotationPlan['action'],
  overrides: Partial<RotationOptions> = {},
): Promise<{ plan: RotationPlan; bundle: StoredTlsBundle }> {
  const plan = planRotation(bundle, options(at, overrides));
  assert.equal(plan.action, expected, `plan at +${at} ms: ${JSON.stringify(plan)}`);
  return { plan, bundle: await applyPlan(bundle, plan, options(at, overrides)) };
}

async function created(): Promise<StoredTlsBundle> {
  return (await step(undefined, 0, 'create')).bundle;
}

// One PEM block after another, each on lines of its own, as OpenSSL and Go's pem package read them.
const PEM_BUNDLE =
  /^(-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE-----\n)+$/;

function cas(bundle: StoredTlsBundle): string[] {
  assert.match(bundle['ca.crt'], PEM_BUNDLE);
  return splitPemCertificates(bundle['ca.crt']).map((pem) => describeCertificate(pem).subject);
}

function servingIssuer(bundle: StoredTlsBundle): string {
  return describeCertificate(bundle['tls.crt']).issuer;
}

function keep(plan: RotationPlan): KeepPlan {
  assert.equal(plan.action, 'keep', JSON.stringify(plan));
  return plan;
}

describe('planRotation and applyPlan', () => {
  it('creates a CA and a serving certificate when nothing usable is stored', async () => {
    for (const missing of [undefined, {}, { 'ca.crt': '', 'ca.key': '' }]) {
      const plan = planRotation(missing, options(0));
      assert.equal(plan.action, 'create');
      assert.equal(plan.action === 'create' && plan.reason, 'Missing');
      assert.equal(plan.action === 'create' && plan.changesCaBundle, true);
    }
    const bundle = await created();
    const ca = new X509Certificate(bundle['ca.crt']);
    const serving = new X509Certificate(bundle['tls.crt']);
    assert.equal(ca.ca, true);
    assert.ok(serving.verify(ca.publicKey));
    assert.equal(serving.checkHost('hook.ns.svc'), 'hook.ns.svc');
    assert.equal(serving.checkIP('10.0.0.7'), '10.0.0.7');
    assert.equal(cas(bundle).length, 1);
    assert.equal(bundle['ca.added-at'], T0.toISOString());
    assert.equal(
      describeCertificate(bundle['ca.crt']).notAfter.getTime(),
      T0.getTime() + 50 * DAY_MS,
    );
    assert.equal(
      describeCertificate(bundle['tls.crt']).notAfter.getTime(),
      T0.getTime() + 10 * DAY_MS,
    );
  });

  it('keeps a fresh bundle and says when to look again', async () => {
    const bundle = await created();
    const plan = keep(planRotation(bundle, options(DAY_MS)));
    assert.equal(plan.recheckAt.getTime(), T0.getTime() + 8 * DAY_MS);
    assert.equal(plan.waitingFor, undefined);
    assert.deepEqual(await applyPlan(bundle, plan, options(DAY_MS)), bundle);
  });

  it('renews a serving certificate near its expiry under the same CA, leaving ca.crt as it was', async () => {
    const bundle = await created();
    assert.equal(planRotation(bundle, options(8 * DAY_MS - 1000)).action, 'keep');
    const { plan, bundle: renewed } = await step(bundle, 8 * DAY_MS, 'rotate-serving');
    assert.equal(plan.action === 'rotate-serving' && plan.reason, 'ServingExpiring');
    assert.equal(plan.action === 'rotate-serving' && plan.changesCaBundle, false);
    assert.equal(renewed['ca.crt'], bundle['ca.crt']);
    assert.equal(renewed['ca.key'], bundle['ca.key']);
    assert.equal(renewed['ca.added-at'], bundle['ca.added-at']);
    assert.equal(caBundleOf(renewed), caBundleOf(bundle));
    assert.notEqual(renewed['tls.crt'], bundle['tls.crt']);
    assert.notEqual(renewed['tls.key'], bundle['tls.key']);
    assert.ok(isIssuedBy(renewed['tls.crt'], renewed['ca.crt']));
    assert.equal(
      describeCertificate(renewed['tls.crt']).notAfter.getTime(),
      T0.getTime() + 18 * DAY_MS,
    );
    assert.equal(planRotation(renewed, options(8 * DAY_MS)).action, 'keep');
  });

  it('rotates the CA in two steps with both CAs trusted, then drops the old one when it expires', async () => {
    // CA and serving certificate both live 10 days, so the CA is the first thing due (day 8).
    const short = { caValidityMs: 10 * DAY_MS };
    const start = (await step(undefined, 0, 'create', short)).bundle;
    const oldCa = cas(start)[0];
    assert.equal(planRotation(start, options(8 * DAY_MS - 1000, short)).action, 'keep');

    // Step 1: the new CA joins ca.crt; the old CA's serving certificate is still served.
    const rotateAt = 8 * DAY_MS;
    const { plan: first, bundle: phase1 } = await step(start, rotateAt, 'rotate-ca', short);
    assert.equal(first.action === 'rotate-ca' && first.reason, 'CaExpiring');
    assert.equal(first.action === 'rotate-ca' && first.changesCaBundle, true);
    const [newCa, secondCa] = cas(phase1);
    assert.equal(secondCa, oldCa);
    assert.notEqual(newCa, oldCa);
    assert.equal(phase1['tls.crt'], start['tls.crt']);
    assert.equal(phase1['tls.key'], start['tls.key']);
    assert.equal(servingIssuer(phase1), oldCa);
    assert.notEqual(phase1['ca.key'], start['ca.key']);
    assert.equal(phase1['ca.added-at'], new Date(T0.getTime() + rotateAt).toISOString());

    // Waiting for the new CA to reach the apiservers, though the serving certificate is due too.
    const waiting = keep(planRotation(phase1, options(rotateAt + 10 * MINUTE_MS - 1000, short)));
    assert.match(waiting.waitingFor ?? '', /propagate/);
    assert.equal(waiting.recheckAt.getTime(), T0.getTime() + rotateAt + 10 * MINUTE_MS);

    // Step 2: the serving certificate comes from the new CA; ca.crt stays as it is.
    const switchAt = rotateAt + 10 * MINUTE_MS;
    const { plan: second, bundle: phase2 } = await step(phase1, switchAt, 'rotate-serving', short);
    assert.equal(second.action === 'rotate-serving' && second.reason, 'SwitchToNewCa');
    assert.equal(phase2['ca.crt'], phase1['ca.crt']);
    assert.equal(servingIssuer(phase2), newCa);

    // The old CA stays trusted (replicas may still serve its certificate) until it expires.
    const settled = keep(planRotation(phase2, options(switchAt, short)));
    assert.equal(settled.recheckAt.getTime(), T0.getTime() + 10 * DAY_MS);
    const { plan: third, bundle: pruned } = await step(phase2, 10 * DAY_MS, 'prune-ca', short);
    assert.equal(third.action === 'prune-ca' && third.changesCaBundle, true);
    assert.deepEqual(cas(pruned), [newCa]);
    assert.equal(pruned['tls.crt'], phase2['tls.crt']);
    assert.equal(pruned['ca.key'], phase2['ca.key']);
    assert.equal(planRotation(pruned, options(10 * DAY_MS, short)).action, 'keep');
  });

  it('switches to the new CA only once the published caBundle trusts it, when the caller says what it holds', async () => {
    const short = { caValidityMs: 10 * DAY_MS };
    const start = (await step(undefined, 0, 'create', short)).bundle;
    const phase1 = (await step(start, 8 * DAY_MS, 'rotate-ca', short)).bundle;
    const later = 8 * DAY_MS + 20 * MINUTE_MS;
    const stale = keep(
      planRotation(phase1, options(later, { ...short, publishedCaBundle: start['ca.crt'] })),
    );
    assert.match(stale.waitingFor ?? '', /webhook configuration/);
    assert.equal(stale.recheckAt.getTime(), T0.getTime() + later + PUBLISH_RECHECK_MS);
    const plan = planRotation(
      phase1,
      options(later, { ...short, publishedCaBundle: phase1['ca.crt'] }),
    );
    assert.equal(plan.action === 'rotate-serving' && plan.reason, 'SwitchToNewCa');
  });

  it('reissues a serving certificate whose names no longer cover the wanted ones', async () => {
    const bundle = await created();
    const wider = { serviceNames: [...NAMES, 'hook.example.com'] };
    const { plan, bundle: reissued } = await step(bundle, DAY_MS, 'rotate-serving', wider);
    assert.equal(plan.action === 'rotate-serving' && plan.reason, 'NamesChanged');
    assert.match(plan.action === 'rotate-serving' ? plan.message : '', /hook\.example\.com/);
    assert.equal(reissued['ca.crt'], bundle['ca.crt']);
    assert.ok(describeCertificate(reissued['tls.crt']).dnsNames.includes('hook.example.com'));

    const otherIp = await step(bundle, DAY_MS, 'rotate-serving', { ipAddresses: ['10.0.0.8'] });
    assert.deepEqual(describeCertificate(otherIp.bundle['tls.crt']).ipAddresses, ['10.0.0.8']);

    // Names the certificate carries beyond the wanted ones are harmless: no churn.
    assert.equal(
      planRotation(bundle, options(DAY_MS, { serviceNames: ['HOOK.ns.svc.'], ipAddresses: [] }))
        .action,
      'keep',
    );
  });

  it('reissues a broken serving certificate at once from the current CA', async () => {
    const bundle = await created();
    const foreignCa = await generateCertificateAuthority({
      now: T0,
      validityMs: DAY_MS,
      commonName: 'foreign',
    });
    const foreign = await issueServingCertificate(foreignCa, {
      dnsNames: NAMES,
      now: T0,
      validityMs: DAY_MS,
    });
    const cases: [string, Partial<StoredTlsBundle>][] = [
      ['missing', { ...bundle, 'tls.crt': '' }],
      ['unparseable', { ...bundle, 'tls.crt': 'not a certificate' }],
      ['wrong key', { ...bundle, 'tls.key': foreign.key }],
      ['foreign issuer', { ...bundle, 'tls.crt': foreign.cert, 'tls.key': foreign.key }],
    ];
    for (const [name, broken] of cases) {
      const plan = planRotation(broken, options(DAY_MS / 2));
      assert.equal(plan.action === 'rotate-serving' && plan.reason, 'ServingInvalid', name);
      const fixed = await applyPlan(broken, plan, options(DAY_MS / 2));
      assert.equal(fixed['ca.crt'], bundle['ca.crt'], name);
      assert.ok(isIssuedBy(fixed['tls.crt'], bundle['ca.crt']), name);
    }
    // An expired serving certificate, even while waiting for a CA switch, is replaced from the new CA.
    const short = { caValidityMs: 10 * DAY_MS, validityMs: 3 * DAY_MS };
    const start = (await step(undefined, 0, 'create', short)).bundle;
    const renewed = (
      await step(start, 2 * DAY_MS, 'rotate-serving', { ...short, validityMs: 10 * DAY_MS })
    ).bundle;
    const phase1 = (await step(renewed, 8 * DAY_MS, 'rotate-ca', short)).bundle;
    assert.equal(servingIssuer(phase1), cas(start)[0]);
    const expiredSoon = { ...phase1, 'tls.crt': start['tls.crt'], 'tls.key': start['tls.key'] };
    const { plan, bundle: fixed } = await step(
      expiredSoon,
      8 * DAY_MS + MINUTE_MS,
      'rotate-serving',
      short,
    );
    assert.equal(plan.action === 'rotate-serving' && plan.reason, 'ServingInvalid');
    assert.equal(servingIssuer(fixed), cas(phase1)[0]);
  });

  it('starts afresh when the CA is unusable', async () => {
    const bundle = await created();
    const other = await generateCertificateAuthority({
      now: T0,
      validityMs: DAY_MS,
      commonName: 'other',
    });
    const cases: [string, Partial<StoredTlsBundle>, string, number][] = [
      ['key of no CA', { ...bundle, 'ca.key': other.key }, 'KeyMismatch', DAY_MS],
      [
        'garbage in ca.crt',
        {
          ...bundle,
          'ca.crt': `${bundle['ca.crt']}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`,
        },
        'Unparseable',
        DAY_MS,
      ],
      ['expired CA', bundle, 'CaExpired', 50 * DAY_MS],
    ];
    for (const [name, broken, reason, at] of cases) {
      const plan = planRotation(broken, options(at));
      assert.equal(plan.action === 'create' && plan.reason, reason, name);
      const fresh = await applyPlan(broken, plan, options(at));
      assert.equal(cas(fresh).length, 1, name);
      assert.ok(isIssuedBy(fresh['tls.crt'], fresh['ca.crt']), name);
      assert.equal(planRotation(fresh, options(at)).action, 'keep', name);
    }
  });

  it('takes the CA start as the time it was added when the bundle does not say', async () => {
    const short = { caValidityMs: 10 * DAY_MS };
    const start = (await step(undefined, 0, 'create', short)).bundle;
    const { 'ca.added-at': _dropped, ...phase1 } = (
      await step(start, 8 * DAY_MS, 'rotate-ca', short)
    ).bundle;
    // The new CA's notBefore is an hour before it was made, so the 10 minutes have passed.
    const plan = planRotation(phase1, options(8 * DAY_MS, short));
    assert.equal(plan.action === 'rotate-serving' && plan.reason, 'SwitchToNewCa');
    const switched = await applyPlan(phase1, plan, options(8 * DAY_MS, short));
    assert.ok(!Number.isNaN(Date.parse(switched['ca.added-at'])));
  });

  it('refuses durations that would make planning loop', () => {
    assert.throws(
      () => planRotation(undefined, options(0, { rotateBeforeMs: 10 * DAY_MS })),
      /rotate-before/,
    );
    assert.throws(
      () => planRotation(undefined, options(0, { caValidityMs: DAY_MS })),
      /CA validity/,
    );
    assert.throws(
      () => planRotation(undefined, options(0, { caPropagationMs: 3 * DAY_MS })),
      /propagation/,
    );
    assert.throws(() => planRotation(undefined, options(0, { rotateBeforeMs: 0 })), /positive/);
    assert.throws(() => planRotation(undefined, options(0, { serviceNames: [] })), /DNS name/);
  });
});

describe('reconcileTlsBundle', () => {
  it('takes every step due and reports none when the bundle is kept', async () => {
    const first = await reconcileTlsBundle(undefined, options(0));
    assert.deepEqual(
      first.steps.map((taken) => taken.action),
      ['create'],
    );
    assert.equal(first.recheckAt.getTime(), T0.getTime() + 8 * DAY_MS);
    const again = await reconcileTlsBundle(first.bundle, options(DAY_MS));
    assert.deepEqual(again.steps, []);
    assert.deepEqual(again.bundle, first.bundle);

    // A leader that was away past the serving certificate's expiry replaces it on its return.
    const late = await reconcileTlsBundle(first.bundle, options(11 * DAY_MS));
    assert.deepEqual(
      late.steps.map((taken) => taken.reason),
      ['ServingInvalid'],
    );
    assert.equal(late.bundle['ca.crt'], first.bundle['ca.crt']);
    assert.equal(late.recheckAt.getTime(), T0.getTime() + 19 * DAY_MS);
  });

  it('stops a CA rotation after its first step and waits', async () => {
    const short = { caValidityMs: 10 * DAY_MS };
    const start = await reconcileTlsBundle(undefined, options(0, short));
    const rotated = await reconcileTlsBundle(start.bundle, options(8 * DAY_MS, short));
    assert.deepEqual(
      rotated.steps.map((taken) => taken.reason),
      ['CaExpiring'],
    );
    assert.match(rotated.waitingFor ?? '', /propagate/);
    const switched = await reconcileTlsBundle(rotated.bundle, options(rotated.recheckAt, short));
    assert.deepEqual(
      switched.steps.map((taken) => taken.reason),
      ['SwitchToNewCa'],
    );
  });
});

describe('the bundle in a Secret', () => {
  it('round-trips through base64 Secret data and gives the caBundle as base64 of ca.crt', async () => {
    const bundle = await created();
    const data = tlsBundleToSecretData(bundle);
    assert.deepEqual(Object.keys(data).sort(), [
      'ca.added-at',
      'ca.crt',
      'ca.key',
      'tls.crt',
      'tls.key',
    ]);
    assert.deepEqual(tlsBundleFromSecretData({ ...data, unrelated: 'eA==' }), bundle);
    assert.deepEqual(tlsBundleFromSecretData(undefined), {});
    assert.equal(caBundleOf(bundle), data['ca.crt']);
    assert.equal(Buffer.from(caBundleOf(bundle), 'base64').toString(), bundle['ca.crt']);
  });
});
