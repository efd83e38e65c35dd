// Open-loop HTTPS load at a fixed rate: a new request every 1/rate seconds whether or not earlier
// ones have been answered, over a few keep-alive TLS connections, each request timed to well below
// a millisecond.
//
// autocannon cannot do this: its rate limit lets every connection send its quota for the second
// back to back and then pause, so "1,000 req/s over 10 connections" is 10 concurrent requests at
// full speed for part of every second; its latencies are whole milliseconds; and it never verifies
// the server's certificate. A client in the benchmark's own thread shares the harness's heap
// (about 40 MB: autocannon, the TypeScript loader, undici), whose collections under this load
// pause it for 10–20 ms every second or so; requests due meanwhile go out late and in a burst,
// and the burst's queueing lands in the tail being measured. So this client runs in a worker
// thread with a small heap of its own, sends one prebuilt request, frames answers by
// Content-Length and allocates little per request.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect, type TLSSocket } from 'node:tls';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

export interface FixedRateTarget {
  readonly host: string;
  readonly port: number;
  /** The CA the server's certificate must chain to. */
  readonly ca: string;
  /** The whole HTTP/1.1 request, headers and body, sent as is every time. */
  readonly request: Buffer;
  /** The body every answer must carry, with status 200; anything else counts as bad. */
  readonly expected: Buffer;
}

export interface FixedRateResult {
  /** Milliseconds from handing each request to the client to the last byte of its answer, ascending. */
  readonly latencies: Float64Array;
  readonly requests: number;
  /** Requests that got no answer: a connection failed, which ends the run. */
  readonly errors: number;
  /** Answers that were not 200 with the expected body. */
  readonly bad: number;
  /** From the first request to the last answer. */
  readonly seconds: number;
  /** The longest the load generator's event loop was held up, ms: requests due then went late. */
  readonly stall: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;

/** One keep-alive connection carrying one request at a time. */
class Connection {
  readonly #socket: TLSSocket;
  #buffer: Buffer = Buffer.alloc(0);
  /** Called with the status and body of each answer, or with the error that ended the connection. */
  onAnswer: (status: number, body: Buffer) => void = () => {};
  onFailure: (error: Error) => void = () => {};

  private constructor(socket: TLSSocket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (error: Error) => this.onFailure(error));
    socket.on('end', () => this.onFailure(new Error('the server closed the connection')));
  }

  static open(target: FixedRateTarget): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: target.host, port: target.port, ca: target.ca });
      socket.once('error', reject);
      socket.once('secureConnect', () => {
        socket.off('error', reject);
        resolve(new Connection(socket));
      });
    });
  }

  send(request: Buffer): void {
    this.#socket.write(request);
  }

  close(): void {
    this.#socket.removeAllListeners('end');
    this.#socket.on('error', () => {});
    this.#socket.end();
  }

  #receive(chunk: Buffer): void {
    const data = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const headerEnd = data.indexOf(HEADER_END);
    if (headerEnd === -1) {
      this.#buffer = data;
      return;
    }
    const head = data.toString('latin1', 0, headerEnd);
    const length = CONTENT_LENGTH.exec(head)?.[1];
    if (length === undefined) {
      this.onFailure(new Error(`an answer without Content-Length: ${head}`));
      return;
    }
    const end = headerEnd + HEADER_END.length + Number(length);
    if (data.length < end) {
      this.#buffer = data;
      return;
    }
    // One request at a time, so nothing follows the answer.
    this.#buffer = Buffer.alloc(0);
    this.onAnswer(Number(head.slice(9, 12)), data.subarray(headerEnd + HEADER_END.length, end));
  }
}

/** `count` connections to `target`, for fixed-rate runs one after another (in the worker). */
class Load {
  readonly #target: FixedRateTarget;
  readonly #connections: readonly Connection[];

  private constructor(target: FixedRateTarget, connections: readonly Connection[]) {
    this.#target = target;
    this.#connections = connections;
  }

  static async open(target: FixedRateTarget, count: number): Promise<Load> {
    const connections = await Promise.all(
      Array.from({ length: count }, () => Connection.open(target)),
    );
    return new Load(target, connections);
  }

  /**
   * Request i is handed over at (start + i/rate), checked every millisecond; it goes out at once on
   * an idle connection or waits for the next one free, and that wait counts in its latency, as it
   * would for the apiserver.
   */
  run(rate: number, seconds: number): Promise<FixedRateResult> {
    const { request, expected } = this.#target;
    const stalls = monitorEventLoopDelay({ resolution: 1 });
    stalls.enable();
    const total = Math.round(rate * seconds);
    const latencies = new Float64Array(total);
    const idle: Connection[] = [...this.#connections];
    const inFlight = new Map<Connection, number>();
    const waiting: number[] = [];
    let handed = 0;
    let answered = 0;
    let bad = 0;
    let timer: NodeJS.Timeout | undefined;
    const started = performance.now();
    return new Promise((resolve) => {
      const finish = (errors: number): void => {
        clearTimeout(timer);
        stalls.disable();
        for (const connection of this.#connections) {
          connection.onAnswer = () => {};
          connection.onFailure = () => {};
        }
        resolve({
          latencies: latencies.subarray(0, answered).sort(),
          requests: total,
          errors,
          bad,
          seconds: (performance.now() - started) / 1000,
          stall: stalls.max / 1e6,
        });
      };
      const dispatch = (connection: Connection, handedAt: number): void => {
        inFlight.set(connection, handedAt);
        connection.send(request);
      };
      for (const connection of this.#connections) {
        connection.onAnswer = (status, body) => {
          latencies[answered] = performance.now() - (inFlight.get(connection) ?? Number.NaN);
          answered += 1;
          if (status !== 200 || !body.equals(expected)) bad += 1;
          if (answered === total) {
            finish(0);
            return;
          }
          const next = waiting.shift();
          if (next === undefined) idle.push(connection);
          else dispatch(connection, next);
        };
        connection.onFailure = () => finish(total - answered);
      }
      const tick = (): void => {
        const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000) + 1);
        for (; handed < due; handed += 1) {
          const now = performance.now();
          const connection = idle.pop();
          if (connection) dispatch(connection, now);
          else waiting.push(now);
        }
        if (handed < total) timer = setTimeout(tick, 1);
      };
      tick();
    });
  }

  close(): void {
    for (const connection of this.#connections) connection.close();
  }
}

interface Job {
  readonly target: FixedRateTarget;
  readonly connections: number;
}

type Reply =
  | { readonly kind: 'open' }
  | { readonly kind: 'result'; readonly result: FixedRateResult }
  | { readonly kind: 'error'; readonly message: string };

/**
 * The load generator in a worker thread of this process: `open` connects, each `run` is one
 * fixed-rate run over the same connections, `close` ends the worker.
 */
export class FixedRateLoad {
  readonly #worker: Worker;
  #pending: ((reply: Reply) => void) | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (reply: Reply) => this.#pending?.(reply));
    worker.on('error', (error: Error) =>
      this.#pending?.({ kind: 'error', message: error.message }),
    );
  }

  static async open(target: FixedRateTarget, connections: number): Promise<FixedRateLoad> {
    const job: Job = { target, connections };
    const load = new FixedRateLoad(new Worker(new URL(import.meta.url), { workerData: job }));
    await load.#ask(undefined);
    return load;
  }

  run(rate: number, seconds: number): Promise<FixedRateResult> {
    return this.#ask({ rate, seconds }).then((reply) => {
      if (reply.kind !== 'result') throw new Error(`unexpected reply from the load generator`);
      return reply.result;
    });
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }

  #ask(message: { rate: number; seconds: number } | undefined): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.#pending = (reply) => {
        this.#pending = undefined;
        if (reply.kind === 'error') reject(new Error(`load generator: ${reply.message}`));
        else resolve(reply);
      };
      if (message) this.#worker.postMessage(message);
    });
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  const { target, connections } = workerData as Job;
  // Buffers arrive as Uint8Arrays through structured cloning.
  const load = await Load.open(
    { ...target, request: Buffer.from(target.request), expected: Buffer.from(target.expected) },
    connections,
  ).catch((error: unknown) => {
    port.postMessage({ kind: 'error', message: String(error) } satisfies Reply);
    return undefined;
  });
  if (load) {
    port.postMessage({ kind: 'open' } satisfies Reply);
    port.on('message', ({ rate, seconds }: { rate: number; seconds: number }) => {
      void load.run(rate, seconds).then((result) => {
        port.postMessage({ kind: 'result', result } satisfies Reply);
      });
    });
  }
}
