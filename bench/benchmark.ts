// What a benchmark is to `npm run bench`: its name, its run, and the row and verdict it reports.

export interface BenchmarkOptions {
  /** Also CPU-profile the process under test and report where its time goes. */
  readonly profile: boolean;
}

export interface BenchmarkResult {
  /** Column name → formatted value, printed as one table row. */
  readonly metrics: Readonly<Record<string, string>>;
  readonly passed: boolean;
  /** The measured value against the target, e.g. "6,120 req/s >= 5,000 req/s". */
  readonly verdict: string;
  /** Setup facts (pinning, machine) and profile lines, printed below the table. */
  readonly notes: readonly string[];
}

export interface Benchmark {
  readonly name: string;
  readonly description: string;
  run(options: BenchmarkOptions): Promise<BenchmarkResult>;
}
