// The Connect REST API of connect-local: routes, token scope enforcement, auditing and errors.
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { parseFilter, FilterSyntaxError, matchesFilter, type Filter } from '../filter.ts';
import {
  CONNECT_API_VERSION,
  CONNECT_VERSION_HEADER,
  looksLikeId,
  type ActivityAction,
  type Health,
} from '../models.ts';
import type { ActivityLog } from './activity-log.ts';
import { ForbiddenError, HttpError, InvalidInputError, NotFoundError } from './errors.ts';
import type { Faults } from './faults.ts';
import {
  presentFile,
  presentItem,
  summarizeItem,
  type StoredFile,
  type StoredItem,
} from './item-input.ts';
import type { ConnectMetrics } from './metrics.ts';
import type { ConnectStore } from './store.ts';
import type { Principal, TokenRegistry } from './token-registry.ts';

export interface ApiDependencies {
  readonly store: ConnectStore;
  readonly tokens: TokenRegistry;
  readonly activity: ActivityLog;
  readonly faults: Faults;
  readonly metrics: ConnectMetrics;
  readonly logger: Logger;
  /** Inline file content larger than this is refused with 413. */
  readonly maxInlineFileBytes: number;
  /** Largest accepted request body. */
  readonly maxBodyBytes: number;
}

interface Audit {
  action: ActivityAction;
  vaultId: string;
  itemId?: string;
  itemVersion?: number;
}

interface Locals {
  principal?: Principal;
  audit?: Audit;
}

const ACTIONS: Readonly<Record<string, ActivityAction>> = {
  GET: 'READ',
  POST: 'CREATE',
  PUT: 'UPDATE',
  PATCH: 'UPDATE',
  DELETE: 'DELETE',
};

function locals(res: Response): Locals {
  return res.locals as Locals;
}

function param(req: Request, name: string): string {
  const value = req.params[name];
  return typeof value === 'string' ? value : '';
}

function requireId(value: string, kind: 'vault' | 'item' | 'file'): string {
  if (!looksLikeId(value)) {
    throw new InvalidInputError(
      `invalid ${kind} id ${JSON.stringify(value)}: expected 26 characters of a-z and 0-9`,
    );
  }
  return value;
}

function queryFilter(req: Request): Filter | undefined {
  const raw = req.query.filter;
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new InvalidInputError('filter must be given once');
  try {
    return parseFilter(raw);
  } catch (error) {
    if (error instanceof FilterSyntaxError) throw new InvalidInputError(error.message);
    throw error;
  }
}

function wantsInline(req: Request): boolean {
  return req.query.inline_files === 'true';
}

export function createApi(deps: ApiDependencies): express.Express {
  const { store, tokens, activity, faults, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    res.setHeader(CONNECT_VERSION_HEADER, CONNECT_API_VERSION);
    const stop = metrics.startRequest();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      stop(req.method, route, res.statusCode);
      recordActivity(req, res);
    });
    next();
  });

  function recordActivity(req: Request, res: Response): void {
    const { audit, principal } = locals(res);
    if (!audit) return;
    const denied = res.statusCode === 401 || res.statusCode === 403;
    if (!denied && res.statusCode >= 400) return;
    activity.record({
      requestId: randomUUID(),
      timestamp: new Date().toISOString(),
      action: audit.action,
      result: denied ? 'DENY' : 'SUCCESS',
      actor: {
        id: principal?.jti ?? '',
        account: principal?.accountId ?? '',
        jti:
          principal?.jti ??
          tokens.jtiOf(/^Bearer\s+(\S+)/i.exec(req.headers.authorization ?? '')?.[1] ?? ''),
        userAgent: req.headers['user-agent'] ?? '',
        requestIp: req.socket.remoteAddress ?? '',
      },
      resource: {
        type: audit.itemId ? 'ITEM' : 'VAULT',
        vault: { id: audit.vaultId },
        ...(audit.itemId ? { item: { id: audit.itemId } } : {}),
        ...(audit.itemVersion !== undefined ? { itemVersion: audit.itemVersion } : {}),
      },
    });
  }

  app.get('/heartbeat', (_req, res) => {
    res.type('text/plain').send('.');
  });

  app.get('/health', (_req, res) => {
    const health: Health = {
      name: '1Password Connect API (connect-local)',
      version: CONNECT_API_VERSION,
      dependencies: [
        faults.outage
          ? {
              service: 'sync',
              status: 'UNAVAILABLE',
              message: 'outage forced through the admin listener',
            }
          : { service: 'sync', status: 'ACTIVE', message: 'local state' },
      ],
    };
    res.json(health);
  });

  app.get('/metrics', async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.render());
  });

  const v1 = express.Router();
  v1.use(async (_req, _res, next) => {
    if (faults.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, faults.latencyMs));
    if (faults.rateLimited > 0) {
      faults.rateLimited -= 1;
      throw new HttpError(429, 'Too many requests (rate limit forced through the admin listener)');
    }
    if (faults.outage)
      throw new HttpError(503, 'Connect is unavailable (outage forced through the admin listener)');
    next();
  });
  v1.use(async (req, res, next) => {
    const vaultId = /^\/vaults\/([^/]+)/.exec(req.path)?.[1];
    const itemId = /^\/vaults\/[^/]+\/items\/([^/]+)/.exec(req.path)?.[1];
    if (vaultId && looksLikeId(vaultId)) {
      locals(res).audit = {
        action: ACTIONS[req.method] ?? 'READ',
        vaultId,
        ...(itemId && looksLikeId(itemId) ? { itemId } : {}),
      };
    } else if (/^\/vaults\/?$/.test(req.path)) {
      // Listing vaults reads every vault in scope: audited with an empty vault id.
      locals(res).audit = { action: 'READ', vaultId: '' };
    }
    locals(res).principal = await tokens.authenticate(req.headers.authorization);
    next();
  });
  v1.use(express.json({ limit: deps.maxBodyBytes, type: () => true }));

  function grantFor(res: Response, vaultId: string, need: 'read' | 'write'): void {
    const grant = locals(res).principal?.grants.get(vaultId);
    if (!grant?.[need]) {
      throw new ForbiddenError(
        grant
          ? `Authorization: token does not have ${need} access to vault ${vaultId}`
          : 'Authorization: token does not have access to vault',
      );
    }
  }

  function vaultFor(req: Request, res: Response, need: 'read' | 'write'): string {
    const vaultId = requireId(param(req, 'vaultId'), 'vault');
    grantFor(res, vaultId, need);
    store.vault(vaultId);
    return vaultId;
  }

  function itemFor(req: Request, res: Response, need: 'read' | 'write'): StoredItem {
    const vaultId = vaultFor(req, res, need);
    const item = store.item(vaultId, requireId(param(req, 'itemId'), 'item'));
    const audit = locals(res).audit;
    if (audit) audit.itemVersion = item.version;
    return item;
  }

  function audited(res: Response, item: StoredItem): StoredItem {
    const audit = locals(res).audit;
    if (audit) {
      audit.itemId = item.id;
      audit.itemVersion = item.version;
    }
    return item;
  }

  function fileFor(req: Request, item: StoredItem): StoredFile {
    const fileId = requireId(param(req, 'fileId'), 'file');
    const file = item.files?.find((candidate) => candidate.id === fileId);
    if (!file) throw new NotFoundError(`file ${fileId} not found`);
    return file;
  }

  function presentFileMaybeInline(file: StoredFile, inline: boolean): object {
    if (!inline) return presentFile(file);
    if (file.size > deps.maxInlineFileBytes) {
      throw new HttpError(
        413,
        `file ${file.id} is too large to inline (${file.size} bytes); fetch its content_path`,
      );
    }
    return file;
  }

  function injectFileFault(): void {
    if (faults.fileFaults > 0) {
      faults.fileFaults -= 1;
      throw new HttpError(500, 'file not yet synced');
    }
  }

  v1.get('/vaults', (req, res) => {
    const filter = queryFilter(req);
    const grants = locals(res).principal?.grants;
    const vaults = store
      .vaults()
      .filter((vault) => grants?.get(vault.id)?.read || grants?.get(vault.id)?.write)
      .filter(
        (vault) => !filter || (filter.attribute !== 'tag' && matchesFilter(filter, [vault.name])),
      );
    res.json(vaults);
  });

  v1.get('/vaults/:vaultId', (req, res) => {
    const vaultId = requireId(param(req, 'vaultId'), 'vault');
    const grant = locals(res).principal?.grants.get(vaultId);
    if (!grant?.read && !grant?.write) throw new ForbiddenError();
    res.json(store.vault(vaultId));
  });

  v1.get('/vaults/:vaultId/items', (req, res) => {
    const vaultId = vaultFor(req, res, 'read');
    const filter = queryFilter(req);
    const items = store
      .items(vaultId)
      .filter(
        (item) =>
          !filter ||
          matchesFilter(filter, filter.attribute === 'tag' ? (item.tags ?? []) : [item.title]),
      );
    res.json(items.map(summarizeItem));
  });

  v1.post('/vaults/:vaultId/items', async (req, res) => {
    const vaultId = vaultFor(req, res, 'write');
    res.json(presentItem(audited(res, await store.createItem(vaultId, req.body))));
  });

  v1.get('/vaults/:vaultId/items/:itemId', (req, res) => {
    res.json(presentItem(itemFor(req, res, 'read')));
  });

  v1.put('/vaults/:vaultId/items/:itemId', async (req, res) => {
    const item = itemFor(req, res, 'write');
    res.json(presentItem(audited(res, await store.replaceItem(item.vault.id, item.id, req.body))));
  });

  v1.patch('/vaults/:vaultId/items/:itemId', async (req, res) => {
    const item = itemFor(req, res, 'write');
    res.json(presentItem(audited(res, await store.patchItem(item.vault.id, item.id, req.body))));
  });

  v1.delete('/vaults/:vaultId/items/:itemId', async (req, res) => {
    const item = itemFor(req, res, 'write');
    await store.deleteItem(item.vault.id, item.id);
    res.status(204).end();
  });

  v1.get('/vaults/:vaultId/items/:itemId/files', (req, res) => {
    const item = itemFor(req, res, 'read');
    injectFileFault();
    const inline = wantsInline(req);
    res.json((item.files ?? []).map((file) => presentFileMaybeInline(file, inline)));
  });

  v1.get('/vaults/:vaultId/items/:itemId/files/:fileId', (req, res) => {
    const item = itemFor(req, res, 'read');
    injectFileFault();
    res.json(presentFileMaybeInline(fileFor(req, item), wantsInline(req)));
  });

  v1.get('/vaults/:vaultId/items/:itemId/files/:fileId/content', (req, res) => {
    const item = itemFor(req, res, 'read');
    injectFileFault();
    const file = fileFor(req, item);
    res
      .type('application/octet-stream')
      .setHeader('Content-Disposition', `attachment; filename="${file.name.replaceAll('"', '')}"`)
      .send(Buffer.from(file.content, 'base64'));
  });

  v1.get('/activity', (req, res) => {
    const limit = req.query.limit === undefined ? 50 : Number(req.query.limit);
    const offset = req.query.offset === undefined ? 0 : Number(req.query.offset);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new InvalidInputError('limit must be an integer from 1 to 1000');
    }
    if (!Number.isInteger(offset) || offset < 0)
      throw new InvalidInputError('offset must be a non-negative integer');
    const page = activity.page(offset, limit);
    const total = activity.count();
    res.setHeader(
      'Content-Range',
      page.length ? `${offset + 1}-${offset + page.length}/${total}` : `*/${total}`,
    );
    res.json(page);
  });

  v1.use((req) => {
    throw new NotFoundError(`no such endpoint: ${req.method} /v1${req.path}`);
  });

  app.use('/v1', v1);
  app.use((req, _res, next) => {
    next(new NotFoundError(`no such endpoint: ${req.method} ${req.path}`));
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const failure = toHttpError(error);
    if (failure.status >= 500 && failure.status !== 503 && !(error instanceof HttpError)) {
      deps.logger.error({ err: error }, 'request failed');
    }
    res.status(failure.status).json(failure.toBody());
  });

  return app;
}

/** Maps anything thrown to Connect's JSON error; body-parser failures become 400 or 413. */
function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  const { status, type } = (error ?? {}) as { status?: number; type?: string };
  if (type === 'entity.too.large') return new HttpError(413, 'request body too large');
  if (type === 'entity.parse.failed')
    return new InvalidInputError('request body is not valid JSON');
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new HttpError(status, 'bad request');
  }
  return new HttpError(500, 'internal error');
}
