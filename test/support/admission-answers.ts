// AdmissionReview fixtures, and the injector's answers read as the apiserver reads them: the review
// answer, its JSONPatch applied, the Status of a refused request.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { HttpsReply } from './webhook-https.ts';

/** A review from test/fixtures/webhook/, e.g. `pod-create-v1`, parsed afresh on each call. */
export function webhookFixture<T = Record<string, unknown>>(name: string): T {
  const url = new URL(`../fixtures/webhook/${name}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

/** The AdmissionReview the injector answers with. */
export interface ReviewAnswer {
  apiVersion: string;
  kind: string;
  response: {
    uid: string;
    allowed: boolean;
    patchType?: string;
    patch?: string;
    status?: { code: number; reason: string; message: string };
  };
}

/** The body of a refused request: a v1 Status. */
export interface FailureStatus {
  apiVersion: string;
  kind: string;
  status: string;
  code: number;
  reason: string;
  message: string;
}

/** The review answer in a 200 JSON reply; fails the test on any other reply. */
export function reviewAnswer(reply: HttpsReply): ReviewAnswer {
  assert.equal(reply.status, 200, reply.text);
  assert.match(reply.headers['content-type'] ?? '', /^application\/json/);
  return JSON.parse(reply.text) as ReviewAnswer;
}

/** Asserts that `reply` is a JSON v1 Status of failure with `code`, `reason` and `message`. */
export function assertStatus(
  reply: HttpsReply,
  code: number,
  reason: string,
  message: RegExp,
): void {
  assert.equal(reply.status, code, reply.text);
  assert.match(reply.headers['content-type'] ?? '', /^application\/json/);
  const body = JSON.parse(reply.text) as FailureStatus;
  assert.equal(body.apiVersion, 'v1');
  assert.equal(body.kind, 'Status');
  assert.equal(body.status, 'Failure');
  assert.equal(body.code, code);
  assert.equal(body.reason, reason);
  assert.match(body.message, message);
}

/** The operations of an answer's base64 `patch`. */
export function decodedPatch(patch: string): Operation[] {
  return JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Operation[];
}

/**
 * A copy of `document` with `operations` applied as the apiserver applies them: each one validated
 * against the document as sent.
 */
export function appliedPatch<T>(document: T, operations: Operation[]): T {
  return jsonpatch.applyPatch(structuredClone(document), operations, true, false).newDocument;
}
