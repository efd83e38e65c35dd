// Benchmark: connect-local answering GET item on one pinned core over keep-alive, against the
// issue's target of 5,000 req/s.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { launcher, opKube } from '../test/support/connect-local.ts';
import type { Benchmark, BenchmarkOptions, BenchmarkResult } from './benchmark.ts';
import {
  SERVER_CORE,
  cpuSeconds,
  format,
  pinLoadGenerator,
  taskset,
  topSelfTime,
  type CpuProfile,
} from './support.ts';

const TARGET_RPS = 5_000;
const CONNECTIONS = 50;
const WARMUP_SECONDS = 2;
const DURATION_SECONDS = 10;
const PROFILE_TOP = 10;
const VAULT_ID = 'benchvault0000000000000001';
const ITEM_ID = 'benchitem00000000000000001';
const ITEM_PATH = `/v1/vaults/${VAULT_ID}/items/${ITEM_ID}`;

// The item under load looks like a real one: login fields, a section, a URL, tags and a file.
const DATA = `
vaults:
  - id: ${VAULT_ID}
    name: Production
    items:
      - id: ${ITEM_ID}
        title: database
        category: DATABASE
        tags: [team-a, postgres]
        urls:
          - { href: 'https://db.example', label: website, primary: true }
        sections:
          - { id: extra, label: Extra }
        fields:
          - { label: username, value: admin, purpose: USERNAME }
          - { label: password, value: 'correct-horse-battery-staple', type: CONCEALED, purpose: PASSWORD }
          - { label: host, value: db.internal.example, section: extra }
          - { label: port, value: '5432', section: extra }
          - { label: database, value: orders, section: extra }
        files:
          - { name: ca.pem, content: "-----BEGIN CERTIFICATE-----\\nMIIB...\\n-----END CERTIFICATE-----\\n" }
      - title: api-key
        category: API_CREDENTIAL
        fields:
          - { label: credential, value: prod-api-key-1, type: CONCEALED }
`;

interface Server {
  readonly child: ChildProcess;
  readonly url: string;
}

async function startServer(command: readonly string[]): Promise<Server> {
  const [file = '', ...args] = command;
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`connect-local did not start: ${stderr.join('')}`)),
      30_000,
    );
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`connect-local exited with ${code}: ${stderr.join('')}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'connect-local listening' && entry.url) {
          clearTimeout(timer);
          resolve(entry.url);
        }
      } catch {
        // not a log line
      }
    });
  });
  return { child, url };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function getJson(url: string, token: string): Promise<unknown> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function run({ profile }: BenchmarkOptions): Promise<BenchmarkResult> {
  const notes = pinLoadGenerator('server', 'autocannon in-process');
  const pinning = taskset(['-V']);

  const dir = await mkdtemp(join(tmpdir(), 'op-kube-bench-'));
  const stateDir = join(dir, 'state');
  const profileDir = join(dir, 'profile');
  await writeFile(join(dir, 'data.yaml'), DATA);
  const node = [
    process.execPath,
    ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
  ];
  const server = await startServer([
    ...(pinning ? ['taskset', '-c', String(SERVER_CORE)] : []),
    ...node,
    launcher,
    'connect-local',
    '--port=0',
    `--state-dir=${stateDir}`,
    `--data=${join(dir, 'data.yaml')}`,
  ]);
  try {
    const created = opKube([
      'connect-local',
      'token',
      'create',
      'bench',
      '--vault',
      'Production,r',
      `--state-dir=${stateDir}`,
    ]);
    if (created.status !== 0) throw new Error(`token create failed: ${created.stderr}`);
    const token = created.stdout.trim();
    const body = JSON.stringify(await getJson(`${server.url}${ITEM_PATH}`, token));
    notes.push(
      `GET /v1/vaults/{vault}/items/{item} (${Buffer.byteLength(body)} B of JSON), ${CONNECTIONS} keep-alive ` +
        `connections, ${WARMUP_SECONDS} s warm-up, then ${DURATION_SECONDS} s measured`,
    );

    const load = (duration: number): Promise<autocannon.Result> =>
      autocannon({
        url: `${server.url}${ITEM_PATH}`,
        connections: CONNECTIONS,
        duration,
        headers: { authorization: `Bearer ${token}` },
      });
    await load(WARMUP_SECONDS);
    const cpuBefore = await cpuSeconds(server.child.pid);
    const started = performance.now();
    const result = await load(DURATION_SECONDS);
    const wallSeconds = (performance.now() - started) / 1000;
    const cpuAfter = await cpuSeconds(server.child.pid);
    const serverBusy =
      cpuBefore === undefined || cpuAfter === undefined
        ? undefined
        : (cpuAfter - cpuBefore) / wallSeconds;
    await stopServer(server.child);

    if (profile) {
      const [file] = (await readdir(profileDir)).filter((name) => name.endsWith('.cpuprofile'));
      if (!file) throw new Error(`the server wrote no CPU profile to ${profileDir}`);
      const cpuProfile = JSON.parse(await readFile(join(profileDir, file), 'utf8')) as CpuProfile;
      notes.push(
        'numbers measured under --cpu-prof, which slows the server down',
        ...topSelfTime(cpuProfile, PROFILE_TOP),
      );
    }

    const mean = result.requests.mean;
    if (serverBusy !== undefined) {
      notes.push(
        `capacity estimate: ~${format(mean / serverBusy)} req/s per fully busy server core (req/s / server CPU)`,
      );
      if (serverBusy < 0.9) {
        notes.push(
          `WARNING: the server used only ${Math.round(100 * serverBusy)}% of its core: other processes on the ` +
            'machine or the load generator held it back, so req/s understates what one core serves',
        );
      }
    }
    const clean = result.errors === 0 && result.non2xx === 0;
    return {
      metrics: {
        'req/s mean': format(mean),
        'p50 ms': String(result.latency.p50),
        'p99 ms': String(result.latency.p99),
        requests: format(result.requests.total),
        errors: String(result.errors),
        'non-2xx': String(result.non2xx),
        'server CPU': serverBusy === undefined ? 'n/a' : `${Math.round(100 * serverBusy)}%`,
      },
      passed: mean >= TARGET_RPS && clean,
      verdict:
        `${format(mean)} req/s ${mean >= TARGET_RPS ? '>=' : '<'} ${format(TARGET_RPS)} req/s target` +
        (clean ? '' : `, with ${result.errors} errors and ${result.non2xx} non-2xx answers`),
      notes,
    };
  } finally {
    await stopServer(server.child);
    await rm(dir, { recursive: true, force: true });
  }
}

export const connectLocalGetItem: Benchmark = {
  name: 'connect-local-get-item',
  description: `GET one item, one server core, keep-alive; target ${format(TARGET_RPS)} req/s`,
  run,
};
