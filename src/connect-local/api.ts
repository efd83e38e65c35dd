// The Connect REST API of connect-local: routes, token scope enforcement, auditing and errors.
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import {
  CONNECT_API_VERSION,
  CONNECT_VERSION_HEADER,
  FilterSyntaxError,
  looksLikeId,
  matchesFilter,
  parseFilter,
  type Filter,
  type Health,
} from '../connect/index.ts';
import type { ActivityLog } from './activity-log.ts';
import { activityEntry, auditOf, type Audit, type AuditScope, type RouteMethod } from './audit.ts';
import { attachmentDisposition } from './content-disposition.ts';
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

interface Locals {
  principal?: Principal;
  audit?: Audit;
}

/**
 * One entry of the API: the router serves `path` and the auditor records `audit` for it, from the
 * same parameters the handler reads. Nothing is served that this table does not name.
 */
interface Route {
  readonly method: RouteMethod;
  readonly path: string;
  readonly audit: AuditScope;
  /** Parses a JSON body, after the token is checked. */
  readonly body?: true;
  readonly handle: (req: Request, res: Response) => void | Promise<void>;
}

/** User agents are the client's to choose; an entry keeps this much of one. */
const MAX_USER_AGENT = 256;

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
  // Connect's paths are lower case, as its ids are: a second spelling of a path is a second way
  // past anything keyed on the first. A trailing slash stays optional (clients send it).
  app.set('case sensitive routing', true);

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
    const entry = activityEntry(audit, principal, {
      requestId: randomUUID(),
      timestamp: new Date().toISOString(),
      status: res.statusCode,
      refusedJti: principal
        ? ''
        : tokens.jtiOf(/^Bearer\s+(\S+)/i.exec(req.headers.authorization ?? '')?.[1] ?? ''),
      userAgent: (req.headers['user-agent'] ?? '').slice(0, MAX_USER_AGENT),
      requestIp: req.socket.remoteAddress ?? '',
    });
    if (entry) activity.record(entry);
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

  const item = '/vaults/:vaultId/items/:itemId';

  /** PUT and PATCH of an item differ only in how the store applies the body. */
  function itemWrite(
    method: 'put' | 'patch',
    write: (vaultId: string, itemId: string, body: unknown) => Promise<StoredItem>,
  ): Route {
    return {
      method,
      path: item,
      audit: 'item',
      body: true,
      async handle(req, res) {
        const stored = itemFor(req, res, 'write');
        res.json(presentItem(audited(res, await write(stored.vault.id, stored.id, req.body))));
      },
    };
  }

  const routes: readonly Route[] = [
    {
      method: 'get',
      path: '/vaults',
      audit: 'vaults',
      handle(req, res) {
        const filter = queryFilter(req);
        const grants = locals(res).principal?.grants;
        const vaults = store
          .vaults()
          .filter((vault) => grants?.get(vault.id)?.read || grants?.get(vault.id)?.write)
          .filter(
            (vault) =>
              !filter || (filter.attribute !== 'tag' && matchesFilter(filter, [vault.name])),
          );
        res.json(vaults);
      },
    },
    {
      method: 'get',
      path: '/vaults/:vaultId',
      audit: 'vault',
      handle(req, res) {
        const vaultId = requireId(param(req, 'vaultId'), 'vault');
        const grant = locals(res).principal?.grants.get(vaultId);
        if (!grant?.read && !grant?.write) throw new ForbiddenError();
        res.json(store.vault(vaultId));
      },
    },
    {
      method: 'get',
      path: '/vaults/:vaultId/items',
      audit: 'vault',
      handle(req, res) {
        const vaultId = vaultFor(req, res, 'read');
        const filter = queryFilter(req);
        const items = store
          .items(vaultId)
          .filter(
            (stored) =>
              !filter ||
              matchesFilter(
                filter,
                filter.attribute === 'tag' ? (stored.tags ?? []) : [stored.title],
              ),
          );
        res.json(items.map(summarizeItem));
      },
    },
    {
      method: 'post',
      path: '/vaults/:vaultId/items',
      audit: 'vault',
      body: true,
      async handle(req, res) {
        const vaultId = vaultFor(req, res, 'write');
        res.json(presentItem(audited(res, await store.createItem(vaultId, req.body))));
      },
    },
    {
      method: 'get',
      path: item,
      audit: 'item',
      handle(req, res) {
        res.json(presentItem(itemFor(req, res, 'read')));
      },
    },
    itemWrite('put', (vaultId, itemId, body) => store.replaceItem(vaultId, itemId, body)),
    itemWrite('patch', (vaultId, itemId, body) => store.patchItem(vaultId, itemId, body)),
    {
      method: 'delete',
      path: item,
      audit: 'item',
      async handle(req, res) {
        const stored = itemFor(req, res, 'write');
        await store.deleteItem(stored.vault.id, stored.id);
        res.status(204).end();
      },
    },
    {
      method: 'get',
      path: `${item}/files`,
      audit: 'item',
      handle(req, res) {
        const stored = itemFor(req, res, 'read');
        injectFileFault();
        const inline = wantsInline(req);
        res.json((stored.files ?? []).map((file) => presentFileMaybeInline(file, inline)));
      },
    },
    {
      method: 'get',
      path: `${item}/files/:fileId`,
      audit: 'item',
      handle(req, res) {
        const stored = itemFor(req, res, 'read');
        injectFileFault();
        res.json(presentFileMaybeInline(fileFor(req, stored), wantsInline(req)));
      },
    },
    {
      method: 'get',
      path: `${item}/files/:fileId/content`,
      audit: 'item',
      handle(req, res) {
        const stored = itemFor(req, res, 'read');
        injectFileFault();
        const file = fileFor(req, stored);
        res
          .type('application/octet-stream')
          .setHeader('Content-Disposition', attachmentDisposition(file.name))
          .send(Buffer.from(file.content, 'base64'));
      },
    },
    {
      method: 'get',
      path: '/activity',
      audit: 'none',
      handle(req, res) {
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
      },
    },
  ];

  const v1 = express.Router({ caseSensitive: true, strict: false });
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
  const json = express.json({ limit: deps.maxBodyBytes, type: () => true });
  for (const route of routes) {
    // The audit starts before the token is checked, so that a refusal is recorded as a DENY.
    const guard = async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      const audit = auditOf(route.method, route.audit, req.params);
      if (audit) locals(res).audit = audit;
      locals(res).principal = await tokens.authenticate(req.headers.authorization);
      next();
    };
    const handlers = route.body ? [guard, json] : [guard];
    v1[route.method](route.path, ...handlers, async (req: Request, res: Response) => {
      await route.handle(req, res);
    });
  }
  v1.use(async (req) => {
    await tokens.authenticate(req.headers.authorization);
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
