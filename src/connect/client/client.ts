// The typed Connect client: one method per endpoint, plus id-or-title lookups as 1Password's operator does them.
import type { ProxyConfig } from '../../util/proxy-env.ts';
import { ConnectError, isConnectError, type ConnectErrorInit } from '../errors.ts';
import { formatFilter } from '../filter.ts';
import {
  looksLikeId,
  type FullItem,
  type Health,
  type ItemFile,
  type ItemSummary,
  type Vault,
} from '../models.ts';
import { checkAnswer, kindOf, type Answer, type AnswerKind } from '../schema.ts';
import type { BackoffOptions } from './backoff.ts';
import { parseContentRange, type ActivityRange } from './content-range.ts';
import { ENDPOINTS, expandEndpoint } from './endpoints.ts';
import {
  headerValue,
  Transport,
  type CallInfo,
  type HttpRequest,
  type HttpResponse,
} from './http.ts';
import type { NewItem, PatchOperation } from './item-writes.ts';
import { pickOldestByTitle } from './lookup.ts';
import { MIN_FILES_VERSION } from './server-version.ts';
import { VaultTitleCache } from './vault-titles.ts';

export interface ConnectClientOptions {
  /** `http(s)://host:port` of the Connect API. */
  readonly host: string;
  readonly token: string;
  /** Per HTTP attempt, body included. Default 10 s. */
  readonly timeoutMs?: number;
  /** Retries after the first attempt. Default 3. */
  readonly retries?: number;
  /** Default: first retry within 100 ms, doubling, capped at 5 s. */
  readonly backoff?: BackoffOptions;
  /** PEM bundle to trust for an https host signed by a private CA. */
  readonly ca?: string;
  /** Called once per HTTP attempt, for metrics. Must not throw. */
  readonly onCall?: (call: CallInfo) => void;
  /** Shown in Connect's activity log. Default `op-kube`. */
  readonly userAgent?: string;
  /**
   * The environment's HTTPS_PROXY/HTTP_PROXY/NO_PROXY (`proxyConfigFromEnv(env)`): Connect is
   * reached through the proxy they name for its host, as 1Password's Go programs do. Default direct.
   */
  readonly proxy?: ProxyConfig;
}

export interface FileOptions {
  /** Include each file's content, base64-encoded (the server refuses large files with 413). */
  readonly inline?: boolean;
}

export interface FileContentOptions {
  /**
   * The `size` the file's metadata declares: content of any other length is refused
   * (InvalidResponse), as a body cut short (or padded) with a matching Content-Length would
   * otherwise be taken for the file. Connect gives no digest to check besides.
   */
  readonly expectedSize?: number;
}

export interface ActivityPage {
  readonly requests: Answer<'activity'>;
  /** From the Content-Range header, when the server sent a well-formed one. */
  readonly range?: ActivityRange;
}

const LIST_ANSWERS: ReadonlySet<AnswerKind> = new Set([
  'vaults',
  'itemSummaries',
  'files',
  'activity',
]);

/**
 * Talks to one Connect server with one token. Methods reject with ConnectError, or with a
 * RangeError for an empty or dot id (a caller's bug). Every answer is checked against the API's
 * schema (schema.ts) and against what was asked for (the item of the requested id and vault);
 * one that fails is an `InvalidResponse` error, so no caller ever sees a malformed answer. The token lives in a private field of the
 * transport: it is in no enumerable property, message or log.
 */
export class ConnectClient {
  readonly #transport: Transport;
  readonly #vaultTitles = new VaultTitleCache();

  constructor(options: ConnectClientOptions) {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const retries = options.retries ?? 3;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new RangeError(`Connect timeout must be a positive number of ms, not ${timeoutMs}`);
    }
    if (!Number.isSafeInteger(retries) || retries < 0) {
      throw new RangeError(`Connect retries must be a non-negative integer, not ${retries}`);
    }
    this.#transport = new Transport({
      host: options.host,
      token: options.token,
      timeoutMs,
      retries,
      backoff: options.backoff ?? {},
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      userAgent: options.userAgent ?? 'op-kube',
      ...(options.onCall === undefined ? {} : { onCall: options.onCall }),
      ...(options.proxy === undefined ? {} : { proxy: options.proxy }),
    });
  }

  /** The `1Password-Connect-Version` the server last reported, if any. */
  get serverVersion(): string | undefined {
    return this.#transport.serverVersion;
  }

  /** Aborts calls in flight and closes the connections; the client is unusable afterwards. */
  close(): Promise<void> {
    return this.#transport.close();
  }

  /** Every vault the token can read, or those matching a filter such as `name eq "Production"`. */
  async listVaults(filter?: string): Promise<Vault[]> {
    const path = expandEndpoint(ENDPOINTS.vaults, {}, { filter });
    const vaults = await this.#answer(get(ENDPOINTS.vaults, path), 'vaults');
    if (filter === undefined) this.#vaultTitles.refresh(vaults);
    return vaults;
  }

  async getVault(vaultId: string): Promise<Vault> {
    const path = expandEndpoint(ENDPOINTS.vault, { vault: vaultId });
    const req = get(ENDPOINTS.vault, path);
    const vault = await this.#vaultScoped(vaultId, () => this.#answer(req, 'vault'));
    if (vault.id !== vaultId)
      throw invalid(req, 200, 'the answer is another vault than the one asked for');
    return vault;
  }

  /** Item summaries (no fields), optionally filtered: `title eq "..."`, `tag eq "..."`. */
  async listItems(vaultId: string, filter?: string): Promise<ItemSummary[]> {
    const path = expandEndpoint(ENDPOINTS.items, { vault: vaultId }, { filter });
    const req = get(ENDPOINTS.items, path);
    const summaries = await this.#vaultScoped(vaultId, () => this.#answer(req, 'itemSummaries'));
    const stray = summaries.findIndex((summary) => summary.vault.id !== vaultId);
    if (stray !== -1) {
      throw invalid(
        req,
        200,
        `entries[${stray}].vault.id: an item of another vault than the one listed`,
      );
    }
    return summaries;
  }

  async getItem(vaultId: string, itemId: string): Promise<FullItem> {
    const path = expandEndpoint(ENDPOINTS.item, { vault: vaultId, item: itemId });
    return this.#item(get(ENDPOINTS.item, path), vaultId, itemId);
  }

  async createItem(vaultId: string, item: NewItem): Promise<FullItem> {
    const path = expandEndpoint(ENDPOINTS.items, { vault: vaultId });
    const body = { ...item, vault: { id: vaultId } };
    return this.#item({ method: 'POST', endpoint: ENDPOINTS.items, path, body }, vaultId);
  }

  /** Replaces the whole item (PUT); Connect has no optimistic concurrency, so the last write wins. */
  async replaceItem(vaultId: string, item: NewItem & { id: string }): Promise<FullItem> {
    const path = expandEndpoint(ENDPOINTS.item, { vault: vaultId, item: item.id });
    const body = { ...item, vault: { id: vaultId } };
    return this.#item({ method: 'PUT', endpoint: ENDPOINTS.item, path, body }, vaultId, item.id);
  }

  async patchItem(
    vaultId: string,
    itemId: string,
    ops: readonly PatchOperation[],
  ): Promise<FullItem> {
    const path = expandEndpoint(ENDPOINTS.item, { vault: vaultId, item: itemId });
    const req: HttpRequest = { method: 'PATCH', endpoint: ENDPOINTS.item, path, body: ops };
    return this.#item(req, vaultId, itemId);
  }

  /** Deletes permanently. */
  async deleteItem(vaultId: string, itemId: string): Promise<void> {
    const path = expandEndpoint(ENDPOINTS.item, { vault: vaultId, item: itemId });
    try {
      await this.#transport.send({ method: 'DELETE', endpoint: ENDPOINTS.item, path });
    } catch (error) {
      // Retries follow only ambiguous failures, so a 404 on a retry means an earlier attempt (or
      // someone else) already deleted the item: the caller's goal is met.
      if (isConnectError(error, 'NotFound') && error.attempts > 1) return;
      throw error;
    }
  }

  async listFiles(vaultId: string, itemId: string, options: FileOptions = {}): Promise<ItemFile[]> {
    const query = { inline_files: options.inline === true ? 'true' : undefined };
    const path = expandEndpoint(ENDPOINTS.files, { vault: vaultId, item: itemId }, query);
    return this.#answer(fileGet(ENDPOINTS.files, path), 'files');
  }

  async getFile(
    vaultId: string,
    itemId: string,
    fileId: string,
    options: FileOptions = {},
  ): Promise<ItemFile> {
    const query = { inline_files: options.inline === true ? 'true' : undefined };
    const params = { vault: vaultId, item: itemId, file: fileId };
    const path = expandEndpoint(ENDPOINTS.file, params, query);
    const req = fileGet(ENDPOINTS.file, path);
    const file = await this.#answer(req, 'file');
    if (file.id !== fileId)
      throw invalid(req, 200, 'the answer is another file than the one asked for');
    return file;
  }

  async getFileContent(
    vaultId: string,
    itemId: string,
    fileId: string,
    options: FileContentOptions = {},
  ): Promise<Buffer> {
    const params = { vault: vaultId, item: itemId, file: fileId };
    const path = expandEndpoint(ENDPOINTS.fileContent, params);
    const req: HttpRequest = { ...fileGet(ENDPOINTS.fileContent, path), binary: true };
    const response = await this.#transport.send(req);
    const { expectedSize } = options;
    if (expectedSize !== undefined && response.body.length !== expectedSize) {
      throw invalid(
        req,
        response.status,
        `the content is ${response.body.length} bytes, not the ${expectedSize} bytes the file's metadata declares`,
      );
    }
    return response.body;
  }

  /** One page of the audit log (server defaults: limit 50, offset 0). */
  async activity(options: { limit?: number; offset?: number } = {}): Promise<ActivityPage> {
    const path = expandEndpoint(ENDPOINTS.activity, {}, options);
    const req = get(ENDPOINTS.activity, path);
    const response = await this.#transport.send(req);
    const requests = decode(req, response, 'activity');
    const range = parseContentRange(headerValue(response.headers, 'content-range'));
    return range === undefined ? { requests } : { requests, range };
  }

  /** Liveness: one attempt, no retries, so a probe reports the present. */
  async heartbeat(): Promise<boolean> {
    try {
      await this.#transport.send({ ...get(ENDPOINTS.heartbeat), binary: true, retries: 0 });
      return true;
    } catch (error) {
      if (error instanceof ConnectError) return false;
      throw error;
    }
  }

  async health(): Promise<Health> {
    return this.#answer(get(ENDPOINTS.health), 'health');
  }

  /**
   * A vault by id or title. An id-like reference is tried as an id first and, when no vault the
   * token reaches has that id, as a title (a title can look like an id). Titles match
   * case-insensitively; among several matches the oldest wins.
   */
  async resolveVault(idOrTitle: string): Promise<Vault> {
    if (!looksLikeId(idOrTitle)) return this.#vaultByTitle(idOrTitle);
    try {
      return await this.getVault(idOrTitle);
    } catch (error) {
      if (!idMissed(error, 'vault')) throw error;
      return this.#vaultByTitleElse(idOrTitle, error);
    }
  }

  /**
   * The full item at `vaults/<vault>/items/<item>`, each part an id or a title, resolved as
   * `resolveVault` does. A vault title resolved before is answered from a cache (refreshed by every
   * unfiltered `listVaults`, dropped on a 404), so a repeated lookup costs one or two calls.
   */
  async resolveItem(vaultIdOrTitle: string, itemIdOrTitle: string): Promise<FullItem> {
    const byId = looksLikeId(vaultIdOrTitle);
    const cached = byId ? undefined : this.#vaultTitles.get(vaultIdOrTitle);
    const vaultId = byId
      ? vaultIdOrTitle
      : (cached ?? (await this.#vaultByTitle(vaultIdOrTitle)).id);
    try {
      return await this.#itemIn(vaultId, vaultIdOrTitle, itemIdOrTitle);
    } catch (error) {
      if (!isConnectError(error)) throw error;
      // Grants are per vault, so any 403 is about the vault; the item list 404s only when the
      // vault does not exist; a 400 is a vault id Connect cannot parse (an item id's 400 went to
      // the title in #itemIn). Each way an id-like reference may be a title after all, and a
      // cached vault that 404s is gone (#vaultScoped has already dropped it).
      const vaultGone = error.reason === 'NotFound' && error.endpoint === ENDPOINTS.items;
      const refused = error.reason === 'Forbidden' || error.reason === 'BadRequest';
      if (byId && (vaultGone || refused)) {
        const vault = await this.#vaultByTitleElse(vaultIdOrTitle, error);
        return this.#itemIn(vault.id, vaultIdOrTitle, itemIdOrTitle);
      }
      if (cached !== undefined && vaultGone) {
        const vault = await this.#vaultByTitle(vaultIdOrTitle);
        return this.#itemIn(vault.id, vaultIdOrTitle, itemIdOrTitle);
      }
      throw error;
    }
  }

  // Servers answer an id outside the token's scope with 403 and that includes ids of no vault at
  // all, so an id-like reference falls back to its title on 403 as on 404. When no title matches
  // either, the id's own error is the better report (a 403 says which grant is missing).
  async #vaultByTitleElse(idLike: string, idError: ConnectError): Promise<Vault> {
    try {
      return await this.#vaultByTitle(idLike);
    } catch (error) {
      throw isConnectError(error, 'NotFound') ? idError : error;
    }
  }

  async #vaultByTitle(title: string): Promise<Vault> {
    const filter = formatFilter({ attribute: 'title', operator: 'eq', value: title });
    const vault = pickOldestByTitle(
      await this.listVaults(filter),
      title,
      (candidate) => candidate.name,
    );
    if (vault === undefined) {
      const context = { status: 404, method: 'GET', endpoint: ENDPOINTS.vaults };
      throw new ConnectError(context, `vault ${JSON.stringify(title)} not found`);
    }
    this.#vaultTitles.remember(title, vault.id);
    return vault;
  }

  async #itemIn(vaultId: string, vaultRef: string, idOrTitle: string): Promise<FullItem> {
    if (looksLikeId(idOrTitle)) {
      try {
        return await this.getItem(vaultId, idOrTitle);
      } catch (error) {
        if (!idMissed(error, 'item')) throw error;
      }
    }
    const filter = formatFilter({ attribute: 'title', operator: 'eq', value: idOrTitle });
    const summary = pickOldestByTitle(
      await this.listItems(vaultId, filter),
      idOrTitle,
      (candidate) => candidate.title,
    );
    if (summary === undefined) {
      // Endpoint `item`, not `items`: resolveItem reads a NotFound from `items` as a missing vault.
      const context = { status: 404, method: 'GET', endpoint: ENDPOINTS.item };
      const message = `item ${JSON.stringify(idOrTitle)} not found in vault ${JSON.stringify(vaultRef)}`;
      throw new ConnectError(context, message);
    }
    return this.getItem(vaultId, summary.id);
  }

  // Only these endpoints 404 because the vault itself is missing; item-level 404s are ambiguous.
  async #vaultScoped<T>(vaultId: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (isConnectError(error, 'NotFound')) this.#vaultTitles.forgetVault(vaultId);
      throw error;
    }
  }

  async #answer<K extends AnswerKind>(req: HttpRequest, kind: K): Promise<Answer<K>> {
    return decode(req, await this.#transport.send(req), kind);
  }

  // A proxy that mixes up answers (a cache keyed wrongly, a confused route) serves a well-formed
  // item of another id: as wrong as a malformed one.
  async #item(req: HttpRequest, vaultId: string, itemId?: string): Promise<FullItem> {
    const item = await this.#answer(req, 'fullItem');
    if (itemId !== undefined && item.id !== itemId) {
      throw invalid(req, 200, 'the answer is another item than the one asked for');
    }
    if (item.vault.id !== vaultId) {
      throw invalid(req, 200, 'the answer is an item of another vault than the one asked for');
    }
    return item;
  }
}

/**
 * An id lookup answered "no such id": 404; 400, which Connect answers for an id it cannot parse
 * (`Invalid Item UUID`, e.g. a 26-character title); for a vault also 403 (ids outside the token's
 * scope, ids of no vault at all). 1Password's operator then tries the reference as a title.
 */
function idMissed(error: unknown, kind: 'vault' | 'item'): error is ConnectError {
  if (!isConnectError(error)) return false;
  return (
    error.reason === 'NotFound' ||
    error.reason === 'BadRequest' ||
    (kind === 'vault' && error.reason === 'Forbidden')
  );
}

function get(endpoint: HttpRequest['endpoint'], path: string = endpoint): HttpRequest {
  return { method: 'GET', endpoint, path };
}

function fileGet(endpoint: HttpRequest['endpoint'], path: string): HttpRequest {
  return { ...get(endpoint, path), minServerVersion: MIN_FILES_VERSION };
}

/**
 * A 2xx answer that is not what the API defines. Its message names the endpoint and where the
 * answer went wrong, never a value from the body (values may be secrets).
 */
function invalid(req: HttpRequest, status: number, detail: string): ConnectError {
  const context: ConnectErrorInit = {
    status,
    reason: 'InvalidResponse',
    method: req.method,
    endpoint: req.endpoint,
  };
  return new ConnectError(
    context,
    `${req.method} ${req.endpoint}: invalid ${status} response: ${detail}`,
  );
}

function decode<K extends AnswerKind>(
  req: HttpRequest,
  response: HttpResponse,
  kind: K,
): Answer<K> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body.toString('utf8'));
  } catch {
    const type = headerValue(response.headers, 'content-type')?.split(';')[0]?.trim();
    throw invalid(
      req,
      response.status,
      `the body is not JSON (${type || 'no content type'}, ${response.body.length} bytes)`,
    );
  }
  const list = LIST_ANSWERS.has(kind);
  const fits = list
    ? Array.isArray(parsed)
    : typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
  if (!fits) {
    throw invalid(
      req,
      response.status,
      `expected a JSON ${list ? 'array' : 'object'}, got ${kindOf(parsed)}`,
    );
  }
  const checked = checkAnswer(kind, parsed);
  if (checked.ok) return checked.value;
  const { path, problem, more } = checked.problem;
  const others = more === 0 ? '' : ` (and ${more} more ${more === 1 ? 'problem' : 'problems'})`;
  throw invalid(req, response.status, `${path}: ${problem}${others}`);
}
