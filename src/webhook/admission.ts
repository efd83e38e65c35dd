// AdmissionReview in → AdmissionReview out, with the mutation as a JSONPatch; no HTTP, no I/O.
import { mutatePod } from './mutate.ts';
import type { InjectionOptions, ResolvedImages } from './mutate.ts';
import { checkPodShape } from './pod-shape.ts';
import { quoted } from './quote.ts';
import { OpKubeError } from '../kube/errors.ts';

/** Both, as 1Password's webhook configuration lists them; the answer uses the request's. */
export const ADMISSION_API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type AdmissionApiVersion = (typeof ADMISSION_API_VERSIONS)[number];

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

/** The fields op-kube reads; the apiserver sends more. */
export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly operation: string;
  readonly subResource?: string;
  readonly namespace?: string;
  readonly name?: string;
  /** As sent: the patch must apply to exactly this JSON. */
  readonly object?: Readonly<Record<string, unknown>>;
}

export interface AdmissionReview {
  readonly apiVersion: AdmissionApiVersion;
  readonly kind: 'AdmissionReview';
  readonly request: AdmissionRequest;
}

/** A metav1.Status; `message` is what kubectl shows after "admission webhook … denied the request:". */
export interface AdmissionStatus {
  readonly status: 'Failure';
  readonly code: number;
  readonly reason: string;
  readonly message: string;
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: 'JSONPatch';
  /** Base64 of the JSON array of operations. */
  readonly patch?: string;
  readonly status?: AdmissionStatus;
  /** Shown by kubectl as "Warning: …" (admission.k8s.io/v1). */
  readonly warnings?: readonly string[];
}

/** What the edge read from registries for containers without a command (registry/entrypoints.ts). */
export interface ImageResolution {
  readonly images: ResolvedImages;
  /** admit: a pod whose image could not be read is admitted unmutated, with a warning. */
  readonly onFailure: 'deny' | 'admit';
}

export interface AdmissionReviewResponse {
  readonly apiVersion: AdmissionApiVersion;
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

/** A body that is not an AdmissionReview op-kube can answer: the HTTP layer replies 400. */
export class InvalidAdmissionReviewError extends OpKubeError<'InvalidAdmissionReview'> {
  override readonly name = 'InvalidAdmissionReviewError';
  readonly httpStatus = 400;

  constructor(message: string) {
    super('InvalidAdmissionReview', message);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isApiVersion(value: unknown): value is AdmissionApiVersion {
  return ADMISSION_API_VERSIONS.some((version) => version === value);
}

export const MAX_UID_LENGTH = 128;

/** Checks the shape of a parsed JSON body; throws InvalidAdmissionReviewError. */
export function parseAdmissionReview(body: unknown): AdmissionReview {
  const invalid = (message: string): InvalidAdmissionReviewError =>
    new InvalidAdmissionReviewError(message);
  if (!isRecord(body)) throw invalid('the body is not a JSON object');
  const { apiVersion, kind, request } = body;
  if (!isApiVersion(apiVersion)) {
    throw invalid(
      `apiVersion ${quoted(apiVersion)} is not one of ${ADMISSION_API_VERSIONS.join(', ')}`,
    );
  }
  if (kind !== 'AdmissionReview') {
    throw invalid(`kind ${quoted(kind)} is not AdmissionReview`);
  }
  if (!isRecord(request)) throw invalid('the AdmissionReview has no request');
  const { uid, operation, subResource, namespace, name, object } = request;
  if (typeof uid !== 'string' || uid === '') throw invalid('request.uid is missing');
  // The apiserver's are UUIDs; a longer one would only be echoed back and logged.
  if (uid.length > MAX_UID_LENGTH) {
    throw invalid(`request.uid is longer than ${MAX_UID_LENGTH} characters`);
  }
  const gvk = request.kind;
  if (
    !isRecord(gvk) ||
    typeof gvk.group !== 'string' ||
    typeof gvk.version !== 'string' ||
    typeof gvk.kind !== 'string'
  ) {
    throw invalid('request.kind must be an object with string group, version and kind');
  }
  if (typeof operation !== 'string') throw invalid('request.operation is missing');
  const optional = (field: string, value: unknown): string | undefined => {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw invalid(`request.${field} is not a string`);
    return value;
  };
  // null is what Go's encoder writes for an absent RawExtension.
  if (object !== undefined && object !== null && !isRecord(object)) {
    throw invalid('request.object is not a JSON object');
  }
  return {
    apiVersion,
    kind,
    request: {
      uid,
      kind: { group: gvk.group, version: gvk.version, kind: gvk.kind },
      operation,
      ...definedFields({
        subResource: optional('subResource', subResource),
        namespace: optional('namespace', namespace),
        name: optional('name', name),
        object: isRecord(object) ? object : undefined,
      }),
    },
  };
}

function definedFields<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(fields).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

/**
 * Why 400 and not 403: a denial here means the pod as written cannot be injected (no command, an
 * unknown container name, a bad annotation), a mistake in the request, whereas 403 reads as
 * "you may not", which sends people looking at RBAC. 400 is also what the apiserver assumes when
 * a webhook gives no code.
 */
export const DENIAL_CODE = 400;

/** kubectl prints the whole message; a pod with thousands of faults gets the first few. */
export const MAX_DENIAL_LENGTH = 2_000;
/** The apiserver shortens longer warnings itself. */
export const MAX_WARNING_LENGTH = 256;

export function admit(
  review: AdmissionReview,
  options: InjectionOptions,
  resolution?: ImageResolution,
): AdmissionReviewResponse {
  const { request } = review;
  const answer = (response: Omit<AdmissionResponse, 'uid'>): AdmissionReviewResponse => ({
    apiVersion: review.apiVersion,
    kind: 'AdmissionReview',
    response: { uid: request.uid, ...response },
  });
  const deny = (message: string): AdmissionReviewResponse =>
    answer({
      allowed: false,
      status: {
        status: 'Failure',
        code: DENIAL_CODE,
        reason: 'BadRequest',
        message:
          message.length <= MAX_DENIAL_LENGTH ? message : `${message.slice(0, MAX_DENIAL_LENGTH)}…`,
      },
    });

  const isPod = request.kind.group === '' && request.kind.kind === 'Pod';
  // Only CREATE: a pod's containers cannot change once it exists. 1Password's injector patches
  // UPDATEs too, so relabelling a pod created before injection was enabled fails as a spec change.
  if (!isPod || request.subResource || request.operation !== 'CREATE') {
    return answer({ allowed: true });
  }
  // Allowing would start the pod without op, its secrets read as literal op:// references.
  if (!request.object) return deny('the AdmissionReview for a Pod CREATE carries no object');

  // The apiserver sends a decoded Pod, but anyone who reaches /inject can send anything: what
  // the mutation reads is checked first, so a pod it cannot read is denied, never a TypeError.
  const original = request.object;
  const shape = checkPodShape(original);
  if (shape.kind === 'unreadable') return deny(shape.problems.join('; '));
  if (resolution?.onFailure === 'admit') {
    const failed = [...resolution.images].flatMap(([name, image]) =>
      image.kind === 'failed' ? [`container ${quoted(name)}: ${image.why}`] : [],
    );
    if (failed.length > 0) {
      // Started without op: its op:// references stay literal. The operator chose this.
      return answer({
        allowed: true,
        warnings: [
          `op-kube admitted the pod without injecting secrets: ${failed.join('; ')}`.slice(
            0,
            MAX_WARNING_LENGTH,
          ),
        ],
      });
    }
  }
  const result = mutatePod(shape.pod, options, resolution?.images);
  switch (result.kind) {
    case 'skip':
      return answer({ allowed: true });
    case 'deny':
      return deny(result.message);
    case 'mutated': {
      // The mutation's own operations: no deep copy of the pod and no diff (docs/benchmarks.md).
      return answer({
        allowed: true,
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify(result.patch)).toString('base64'),
      });
    }
  }
}

export type ReviewReply =
  | { readonly status: 200; readonly body: AdmissionReviewResponse }
  | { readonly status: 400; readonly body: InvalidReviewBody };

/** A metav1.Status, so a client that reads Kubernetes errors reads this one too. */
export interface InvalidReviewBody {
  readonly apiVersion: 'v1';
  readonly kind: 'Status';
  readonly status: 'Failure';
  readonly code: 400;
  readonly reason: string;
  readonly message: string;
}

/** parseAdmissionReview then admit, with a malformed body turned into the 400 to send. */
export function reviewReply(
  body: unknown,
  options: InjectionOptions,
  resolution?: ImageResolution,
): ReviewReply {
  let review: AdmissionReview;
  try {
    review = parseAdmissionReview(body);
  } catch (error) {
    if (!(error instanceof InvalidAdmissionReviewError)) throw error;
    return {
      status: 400,
      body: {
        apiVersion: 'v1',
        kind: 'Status',
        status: 'Failure',
        code: 400,
        reason: error.reason,
        message: error.message,
      },
    };
  }
  return { status: 200, body: admit(review, options, resolution) };
}
