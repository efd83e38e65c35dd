// The admin listener (off unless --admin-port is given): fault controls and item edits for tests.
import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { HttpError, InvalidInputError, UnauthorizedError } from './errors.ts';
import type { Faults } from './faults.ts';
import { presentItem } from './item-input.ts';
import type { ConnectStore } from './store.ts';

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function body(req: Request): Record<string, unknown> {
  const value: unknown = req.body;
  if (typeof value !== 'object' || value === null)
    throw new InvalidInputError('expected a JSON object');
  return value as Record<string, unknown>;
}

function nonNegativeInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidInputError(`${name} must be a non-negative integer`);
  }
  return value;
}

export function createAdminApi(
  store: ConnectStore,
  faults: Faults,
  secret: string,
): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((req, _res, next) => {
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (!sameSecret(token, secret)) throw new UnauthorizedError('admin secret required');
    next();
  });
  app.use(express.json({ limit: '8mb', type: () => true }));

  app.get('/admin/faults', (_req, res) => {
    res.json(faults);
  });
  app.post('/admin/outage', (req, res) => {
    const { enabled } = body(req);
    if (typeof enabled !== 'boolean') throw new InvalidInputError('enabled must be true or false');
    faults.outage = enabled;
    res.json(faults);
  });
  app.post('/admin/latency', (req, res) => {
    faults.latencyMs = nonNegativeInteger(body(req).ms, 'ms');
    res.json(faults);
  });
  app.post('/admin/file-faults', (req, res) => {
    faults.fileFaults = nonNegativeInteger(body(req).count, 'count');
    res.json(faults);
  });
  app.post('/admin/rate-limit', (req, res) => {
    faults.rateLimited = nonNegativeInteger(body(req).count, 'count');
    res.json(faults);
  });
  app.put('/admin/vaults/:vaultId/items/:itemId', async (req, res) => {
    const item = await store.editItem(
      String(req.params.vaultId),
      String(req.params.itemId),
      req.body,
    );
    res.json(presentItem(item));
  });

  app.delete('/admin/vaults/:vaultId', async (req, res) => {
    await store.deleteVault(String(req.params.vaultId));
    res.status(204).end();
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const failure =
      error instanceof HttpError
        ? error
        : (error as { type?: string }).type === 'entity.parse.failed'
          ? new InvalidInputError('request body is not valid JSON')
          : new HttpError(500, 'internal error');
    res.status(failure.status).json(failure.toBody());
  });
  return app;
}
