// Property-based fuzzing of POST /inject over real HTTPS: generated AdmissionReviews, valid and malformed; never a 5xx, always a review or a Status, every patch applies.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import { reviewReply } from '../../../src/webhook/admission.ts';
import { appliedPatch, decodedPatch, type ReviewAnswer } from '../../support/admission-answers.ts';
import {
  applyEdits,
  edit,
  generatedReview,
  type Expected,
  type GeneratedReview,
  type Json,
} from '../../support/admission-reviews.ts';
import { podProblems } from '../../support/pod-schema.ts';
import {
  startHttpsWebhook,
  type HttpsReply,
  type HttpsWebhook,
} from '../../support/webhook-https.ts';
import { recordReliability } from '../../support/reliability.ts';

/** Fixed, so a failure reproduces; FUZZ_SEED=<n> explores other runs. */
const SEED = Number(process.env.FUZZ_SEED ?? 20_251_206);
const VALID_RUNS = Number(process.env.FUZZ_VALID_RUNS ?? 300);
const MALFORMED_RUNS = Number(process.env.FUZZ_MALFORMED_RUNS ?? 400);
/** The server's MAX_REVIEW_DEPTH and MAX_UID_LENGTH, restated: the oracle is the contract. */
const MAX_DEPTH = 100;
const MAX_UID = 128;

const STATUS = 'operator.1password.io/status';

type Record_ = { readonly [key: string]: unknown };

function isRecord(value: unknown): value is Record_ {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (isRecord(value)) return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  return 0;
}

const absentOr = (value: unknown, ok: (value: unknown) => boolean): boolean =>
  value === undefined || value === null || ok(value);

/** Whether the server must read `sent` as an AdmissionReview (200) rather than refuse it (400). */
function isReadableReview(sent: Json): boolean {
  if (!isRecord(sent) || Object.keys(sent).length === 0 || depthOf(sent) > MAX_DEPTH) return false;
  const { apiVersion, kind, request } = sent;
  if (apiVersion !== 'admission.k8s.io/v1' && apiVersion !== 'admission.k8s.io/v1beta1') {
    return false;
  }
  if (kind !== 'AdmissionReview' || !isRecord(request)) return false;
  const gvk = request.kind;
  return (
    typeof request.uid === 'string' &&
    request.uid !== '' &&
    request.uid.length <= MAX_UID &&
    isRecord(gvk) &&
    typeof gvk.group === 'string' &&
    typeof gvk.version === 'string' &&
    typeof gvk.kind === 'string' &&
    typeof request.operation === 'string' &&
    ['subResource', 'namespace', 'name'].every((field) =>
      absentOr(request[field], (value) => typeof value === 'string'),
    ) &&
    absentOr(request.object, isRecord)
  );
}

function isPodCreate(request: Record_): boolean {
  const gvk = request.kind as Record_;
  return (
    gvk.group === '' &&
    gvk.kind === 'Pod' &&
    request.operation === 'CREATE' &&
    (request.subResource === undefined ||
      request.subResource === null ||
      request.subResource === '')
  );
}

const statuses = new Map<number, number>();
/** Valid reviews by outcome: the generator must reach injections, not only denials. */
const outcomes = new Map<Expected, number>();
let cases = 0;
let injected = 0;
let denied = 0;

function count(reply: HttpsReply): void {
  cases += 1;
  statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
}

/**
 * Everything that must hold of any answer to `sent`; returns the patched pod for a patch. `valid`:
 * the review was generated as the apiserver would send it, so the pod was accepted by Kubernetes.
 */
function checkAnswer(
  sent: Json,
  reply: HttpsReply,
  envValues: readonly string[],
): { answer?: ReviewAnswer; patched?: Json } {
  assert.ok(reply.status < 500, `${reply.status}: ${reply.text.slice(0, 500)}`);
  assert.match(reply.headers['content-type'] ?? '', /^application\/json/);
  const body = JSON.parse(reply.text) as Record_;
  if (!isReadableReview(sent)) {
    assert.equal(reply.status, 400, reply.text.slice(0, 500));
    assert.equal(body.kind, 'Status');
    assert.equal(body.apiVersion, 'v1');
    assert.equal(body.status, 'Failure');
    assert.equal(body.code, 400);
    assert.equal(typeof body.reason, 'string');
    assert.equal(typeof body.message, 'string');
    assert.ok((body.message as string).length < 1_000, 'the message does not echo the body');
    return {};
  }
  assert.equal(reply.status, 200, reply.text.slice(0, 500));
  const review = sent as Record_ & { request: Record_ };
  const answer = body as unknown as ReviewAnswer;
  assert.equal(answer.apiVersion, review.apiVersion);
  assert.equal(answer.kind, 'AdmissionReview');
  assert.equal(answer.response.uid, review.request.uid);
  assert.equal(typeof answer.response.allowed, 'boolean');
  const { patch, ...rest } = answer.response;
  const visible = JSON.stringify(rest);
  for (const value of envValues) assert.ok(!visible.includes(value), 'an env value in the answer');
  if (!answer.response.allowed) {
    assert.equal(patch, undefined);
    assert.equal(answer.response.status?.code, 400);
    assert.ok((answer.response.status?.message ?? '') !== '');
    assert.ok((answer.response.status?.message.length ?? 0) < 10_000);
  }
  if (!isPodCreate(review.request)) {
    assert.deepEqual(answer.response, { uid: review.request.uid, allowed: true });
    return { answer };
  }
  if (patch === undefined) return { answer };

  assert.equal(answer.response.patchType, 'JSONPatch');
  const operations = decodedPatch(patch);
  assert.ok(Array.isArray(operations) && operations.length > 0);
  const object = review.request.object as Json;
  const patched = appliedPatch(object, operations);
  const pod = patched as {
    metadata?: { annotations?: Record<string, unknown> };
    spec?: { initContainers?: { name?: unknown }[]; volumes?: { name?: unknown }[] };
  };
  assert.equal(pod.metadata?.annotations?.[STATUS], 'injected');
  assert.equal(pod.spec?.initContainers?.filter((c) => c.name === 'copy-op-bin').length, 1);
  assert.equal(pod.spec?.volumes?.filter((v) => v.name === 'op-bin').length, 1);
  const before = new Set(podProblems(object));
  const added = podProblems(patched).filter((problem) => !before.has(problem));
  assert.deepEqual(added, [], 'the patch made the pod invalid for Kubernetes');
  return { answer, patched };
}

/** fast-check's report with the seed and path, cut short: a counterexample may hold 600 kB strings. */
function reproduce(t: TestContext, error: unknown): never {
  t.diagnostic(`reproduce with FUZZ_SEED=${SEED}`);
  if (!(error instanceof Error) || error.message.length <= 4_000) throw error;
  throw new Error(`${error.message.slice(0, 4_000)}… (cut)`, { cause: error.cause });
}

describe('fuzzing POST /inject over HTTPS with generated AdmissionReviews', () => {
  let webhook: HttpsWebhook;
  const started = performance.now();

  before(async () => {
    webhook = await startHttpsWebhook();
  });

  after(async () => {
    await webhook?.stop();
  });

  it(`answers valid reviews as their pods require (seed ${SEED}, ${VALID_RUNS} runs)`, async (t) => {
    const property = fc.asyncProperty(generatedReview, async (generated: GeneratedReview) => {
      const text = JSON.stringify(generated.review);
      const sent = JSON.parse(text) as Json;
      const request = (sent as { request: { object: Json } }).request;
      if (generated.review.request && request.object !== null) {
        assert.deepEqual(
          podProblems(objectPod(request.object)),
          [],
          'the generator made a bad pod',
        );
      }
      const reply = await webhook.post(text);
      count(reply);
      const { answer, patched } = checkAnswer(sent, reply, generated.envValues);
      assert.ok(answer);
      const outcome: Expected = !answer.response.allowed
        ? 'deny'
        : answer.response.patch === undefined
          ? 'skip'
          : 'inject';
      assert.equal(outcome, generated.expected, answer.response.status?.message ?? '');
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      if (outcome === 'deny') denied += 1;
      if (patched === undefined) return;
      injected += 1;
      assert.deepEqual(podProblems(patched), [], 'the injected pod is one Kubernetes accepts');
      // Reinvocation (reinvocationPolicy IfNeeded) or a replayed request changes nothing more.
      const again = structuredClone(generated.review) as { request: { object: Json } };
      again.request.object = patched;
      const second = reviewReply(again, webhook.injection);
      assert.ok(second.status === 200);
      assert.equal(second.body.response.allowed, true);
      assert.equal(second.body.response.patch, undefined);
    });
    await fc
      .assert(property, { seed: SEED, numRuns: VALID_RUNS })
      .catch((error: unknown) => reproduce(t, error));
  });

  it(`never answers 5xx to malformed reviews; every patch still applies (seed ${SEED}, ${MALFORMED_RUNS} runs)`, async (t) => {
    const property = fc.asyncProperty(
      generatedReview,
      fc.array(edit, { minLength: 1, maxLength: 3 }),
      async (generated, edits) => {
        const text = JSON.stringify(applyEdits(generated.review, edits));
        const reply = await webhook.post(text);
        count(reply);
        const { answer } = checkAnswer(JSON.parse(text) as Json, reply, generated.envValues);
        if (answer && !answer.response.allowed) denied += 1;
        if (answer?.response.patch !== undefined) injected += 1;
      },
    );
    await fc
      .assert(property, { seed: SEED, numRuns: MALFORMED_RUNS })
      .catch((error: unknown) => reproduce(t, error));
  });

  it('stayed up, and counted no error', async (t) => {
    const fives = [...statuses].filter(([code]) => code >= 500).reduce((n, [, k]) => n + k, 0);
    const summary = [...statuses]
      .sort(([a], [b]) => a - b)
      .map(([code, k]) => `${code}×${k}`)
      .join(' ');
    t.diagnostic(
      `fuzz: seed ${SEED}, ${cases} requests (${summary}), ${injected} patched, ${denied} denied, ` +
        `valid ones ${[...outcomes].map(([outcome, k]) => `${outcome} ${k}`).join(', ')}, ` +
        `${fives} 5xx, ${Math.round(performance.now() - started)} ms`,
    );
    assert.equal(fives, 0);
    await recordReliability({
      suite: 'webhook-fuzz',
      fault: `Generated AdmissionReviews over HTTPS, valid and malformed (seed ${SEED})`,
      expected: 'never a 5xx; a review echoing the uid or a 400 Status; every patch applies',
      observed: `${cases} requests (${summary}), ${injected} patched, ${denied} denied, ${fives} 5xx, ${Math.round(performance.now() - started)} ms`,
    });
    assert.equal((await webhook.get('/healthz')).status, 200);
    const metrics = (await webhook.get('/metrics')).text;
    assert.doesNotMatch(metrics, /outcome="error"/);
    assert.doesNotMatch(webhook.logs(), /"level":50/, 'nothing logged at error level');
  });
});

function objectPod(object: Json): Json {
  // A Deployment carries the pod as its template.
  const template = (object as { spec?: { template?: Json } }).spec?.template;
  return (object as { kind?: string }).kind === 'Deployment' && template ? template : object;
}
