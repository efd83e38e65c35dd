// What one answered request records in /v1/activity, from the route that served it: the route's
// declared scope and the same decoded parameters its handler used, so serving and auditing agree.
import { looksLikeId, type ActivityAction, type ApiRequest } from '../connect/index.ts';
import type { Principal } from './token-registry.ts';

/** What a route reads or changes: every vault in scope, one vault, one item, or nothing audited. */
export type AuditScope = 'vaults' | 'vault' | 'item' | 'none';

export type RouteMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface Audit {
  readonly action: ActivityAction;
  readonly vaultId: string;
  itemId?: string;
  itemVersion?: number;
}

/** By the route's method, not the request's: a HEAD served by a GET route is a READ. */
const ACTIONS: Readonly<Record<RouteMethod, ActivityAction>> = {
  get: 'READ',
  post: 'CREATE',
  put: 'UPDATE',
  patch: 'UPDATE',
  delete: 'DELETE',
};

/**
 * The audit record a route starts for a request, before authentication, so that a refusal is
 * recorded too. Ids that are not ids answer 400 and name no resource: nothing is audited then.
 */
export function auditOf(
  method: RouteMethod,
  scope: AuditScope,
  params: Readonly<Record<string, unknown>>,
): Audit | undefined {
  const action = ACTIONS[method];
  if (scope === 'none') return undefined;
  // Listing vaults reads every vault in scope: audited with an empty vault id.
  if (scope === 'vaults') return { action, vaultId: '' };
  const { vaultId, itemId } = params;
  if (typeof vaultId !== 'string' || !looksLikeId(vaultId)) return undefined;
  if (scope === 'vault' || typeof itemId !== 'string' || !looksLikeId(itemId)) {
    return { action, vaultId };
  }
  return { action, vaultId, itemId };
}

export interface RequestFacts {
  readonly requestId: string;
  readonly timestamp: string;
  readonly status: number;
  /** The jti of a refused token that at least verified (expired, revoked), else ''. */
  readonly refusedJti: string;
  readonly userAgent: string;
  readonly requestIp: string;
}

/** The activity entry of an answered request: successes and refusals (401/403); other failures none. */
export function activityEntry(
  audit: Audit | undefined,
  principal: Principal | undefined,
  facts: RequestFacts,
): ApiRequest | undefined {
  if (!audit) return undefined;
  const denied = facts.status === 401 || facts.status === 403;
  if (!denied && facts.status >= 400) return undefined;
  return {
    requestId: facts.requestId,
    timestamp: facts.timestamp,
    action: audit.action,
    result: denied ? 'DENY' : 'SUCCESS',
    actor: {
      id: principal?.jti ?? '',
      account: principal?.accountId ?? '',
      jti: principal?.jti ?? facts.refusedJti,
      userAgent: facts.userAgent,
      requestIp: facts.requestIp,
    },
    resource: {
      type: audit.itemId ? 'ITEM' : 'VAULT',
      vault: { id: audit.vaultId },
      ...(audit.itemId ? { item: { id: audit.itemId } } : {}),
      ...(audit.itemVersion !== undefined ? { itemVersion: audit.itemVersion } : {}),
    },
  };
}
