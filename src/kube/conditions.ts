// Pure helpers for status.conditions lists, following metav1.Condition and apimachinery's meta.SetStatusCondition.
import { formatTime } from './micro-time.ts';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** One entry of `status.conditions`, as it is stored (times as RFC 3339 strings). */
export interface Condition {
  readonly type: string;
  readonly status: ConditionStatus;
  /** CamelCase machine reason, e.g. `Synced`, `ItemNotFound`. */
  readonly reason: string;
  readonly message: string;
  /** When `status` last changed, RFC 3339 to the second. */
  readonly lastTransitionTime: string;
  /** The metadata.generation the condition was computed from. */
  readonly observedGeneration?: number;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((condition) => condition.type === type);
}

/** True when the condition of `type` exists and has status `True`. */
export function isConditionTrue(
  conditions: readonly Condition[] | undefined,
  type: string,
): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/**
 * Sets the condition of `input.type`, adding it at the end or replacing it in place.
 * `lastTransitionTime` moves to `now` only when the status changes (or the condition is new): a
 * reason or message change alone is not a transition, so "Ready since" stays truthful.
 *
 * Returns `conditions` itself when nothing would change, so `next !== previous` tells the caller a
 * status write is due and an unchanged reconcile costs no API call.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date,
): readonly Condition[] {
  const list = conditions ?? [];
  const index = list.findIndex((condition) => condition.type === input.type);
  const existing = index === -1 ? undefined : list[index];
  const lastTransitionTime =
    existing !== undefined && existing.status === input.status
      ? existing.lastTransitionTime
      : formatTime(now);
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message,
    lastTransitionTime,
    ...(input.observedGeneration === undefined
      ? {}
      : { observedGeneration: input.observedGeneration }),
  };
  if (existing === undefined) return [...list, next];
  if (conditionsEqual(existing, next) && conditions !== undefined) return conditions;
  return list.map((condition, at) => (at === index ? next : condition));
}

function conditionsEqual(a: Condition, b: Condition): boolean {
  return (
    a.type === b.type &&
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.lastTransitionTime === b.lastTransitionTime &&
    a.observedGeneration === b.observedGeneration
  );
}
