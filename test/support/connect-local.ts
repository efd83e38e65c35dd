// Runs the real `op-kube connect-local` as a child process for a test, with its CLI for tokens.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ConnectClient, type ApiRequest } from '../../src/connect/index.ts';
import { repoRoot } from '../../tools/cluster/paths.ts';

export const launcher = join(repoRoot, 'bin', 'op-kube.js');

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `op-kube <args>` to completion with the same Node binary as the test. */
export function opKube(args: readonly string[], env: NodeJS.ProcessEnv = process.env): CliResult {
  const result = spawnSync(process.execPath, [launcher, ...args], {
    encoding: 'utf8',
    env,
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs `op-kube connect-local token <args> --state-dir=<stateDir>` to completion. */
export function tokenCli(stateDir: string, args: readonly string[]): CliResult {
  return opKube(['connect-local', 'token', ...args, `--state-dir=${stateDir}`]);
}

export interface ConnectLocalHandle {
  readonly url: string;
  readonly adminUrl: string;
  readonly stateDir: string;
  /** Creates a token through the CLI; vault specs like 'Production', 'Production,r', 'Staging,w'. */
  token(options: { vaults: string[]; name?: string; expiresIn?: string }): Promise<string>;
  revoke(nameOrId: string): Promise<void>;
  /** Calls the admin listener (fault controls). */
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** Everything it printed so far (JSON log lines on stdout, then stderr). */
  output(): string;
  /** SIGTERM and wait; the state dir stays for a restart. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Starts the server again on the same state dir (new ports). */
  restart(): Promise<ConnectLocalHandle>;
}

interface Registrar {
  after(fn: () => Promise<void>): void;
}

export interface StartOptions {
  /** YAML text of the data file. */
  readonly data?: string;
  readonly args?: readonly string[];
  /** Reuse a state dir (e.g. after a kill). */
  readonly stateDir?: string;
  /** Added to the environment, e.g. POD_NAMESPACE. */
  readonly env?: NodeJS.ProcessEnv;
  /** The admin listener's secret (default `test-admin-secret`). */
  readonly adminSecret?: string;
}

let tokenCounter = 0;

function waitForExit(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts connect-local on free ports with an admin listener; stops it when the test ends. */
export async function startConnectLocal(
  registrar: Registrar,
  options: StartOptions = {},
): Promise<ConnectLocalHandle> {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'op-kube-connect-'));
  const adminSecret = options.adminSecret ?? 'test-admin-secret';
  const args = ['connect-local', '--port=0', '--admin-port=0', `--state-dir=${stateDir}`];
  if (options.data !== undefined) {
    const dataDir = mkdtempSync(join(tmpdir(), 'op-kube-data-'));
    await writeFile(join(dataDir, 'data.yaml'), options.data);
    args.push(`--data=${join(dataDir, 'data.yaml')}`);
    registrar.after(() => rm(dataDir, { recursive: true, force: true }));
  }
  args.push(...(options.args ?? []));
  const env = {
    ...process.env,
    ...options.env,
    CONNECT_LOCAL_ADMIN_SECRET: adminSecret,
  };
  const child = spawn(process.execPath, [launcher, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  const stdout: string[] = [];
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.push(chunk));
  const listening = await new Promise<{ url: string; adminUrl: string }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(
      () => reject(new Error(`connect-local did not start: ${stderr.join('')}`)),
      30_000,
    );
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string; adminUrl?: string };
        if (entry.msg === 'connect-local listening' && entry.url && entry.adminUrl) {
          clearTimeout(timer);
          resolve({ url: entry.url, adminUrl: entry.adminUrl });
        }
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`connect-local exited with ${code}: ${stderr.join('')}`));
    });
  });

  let stopped = false;
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopped) return;
    stopped = true;
    child.kill(signal);
    await waitForExit(child);
  };
  registrar.after(async () => {
    await stop('SIGTERM');
    if (!options.stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  const handle: ConnectLocalHandle = {
    ...listening,
    stateDir,
    token({ vaults, name, expiresIn }) {
      tokenCounter += 1;
      const result = opKube([
        'connect-local',
        'token',
        'create',
        name ?? `test-token-${process.pid}-${tokenCounter}`,
        `--state-dir=${stateDir}`,
        ...vaults.map((vault) => `--vault=${vault}`),
        ...(expiresIn ? [`--expires-in=${expiresIn}`] : []),
      ]);
      return result.status === 0
        ? Promise.resolve(result.stdout.trim())
        : Promise.reject(new Error(`token create failed: ${result.stderr}`));
    },
    revoke(nameOrId) {
      const result = tokenCli(stateDir, ['revoke', nameOrId]);
      return result.status === 0
        ? Promise.resolve()
        : Promise.reject(new Error(`token revoke failed: ${result.stderr}`));
    },
    async admin(method, path, body) {
      const response = await fetch(`${listening.adminUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminSecret}`, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
    },
    output: () => stdout.join('') + stderr.join(''),
    stop: () => stop('SIGTERM'),
    kill: () => stop('SIGKILL'),
    restart: () =>
      startConnectLocal(registrar, {
        stateDir,
        ...(options.args ? { args: options.args } : {}),
        ...(options.env ? { env: options.env } : {}),
        ...(options.adminSecret ? { adminSecret: options.adminSecret } : {}),
      }),
  };
  return handle;
}

/** Reads a file of the state dir, e.g. to check what was persisted. */
export function readStateFile(handle: ConnectLocalHandle, name: string): Promise<string> {
  return readFile(join(handle.stateDir, name), 'utf8');
}

/** Every entry of the server's audit log (GET /v1/activity, page by page), checked by the client. */
export async function activityOf(
  server: Pick<ConnectLocalHandle, 'url'>,
  token: string,
): Promise<ApiRequest[]> {
  const client = new ConnectClient({ host: server.url, token });
  try {
    const entries: ApiRequest[] = [];
    for (let offset = 0; ; offset += 1000) {
      const { requests } = await client.activity({ limit: 1000, offset });
      entries.push(...requests);
      if (requests.length < 1000) return entries;
    }
  } finally {
    await client.close();
  }
}

/** The names of the vaults `token` lists on the server at `url`, sorted. */
export async function vaultNames(url: string, token: string): Promise<string[]> {
  const response = await fetch(`${url}/v1/vaults`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { name: string }[]).map((vault) => vault.name).sort();
}
