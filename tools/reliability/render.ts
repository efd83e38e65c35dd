// docs/reliability.md from the rows the fault tests recorded (test/support/reliability.ts).

/** One fault a test measured (one JSON line of OP_KUBE_RELIABILITY_OUT). */
export interface RecordedRow {
  /** The test file or suite that measured it, e.g. `operator-connect-faults`. */
  readonly suite: string;
  /** What the hostile world did. */
  readonly fault: string;
  /** What op-kube must do. */
  readonly expected: string;
  /** What it did, in figures where there are any. */
  readonly observed: string;
  /** From the fault to op-kube reporting it, when measured. */
  readonly detectMs?: number;
  /** From the fault healing to op-kube being back to normal, when measured. */
  readonly recoveryMs?: number;
}

export interface RunFacts {
  readonly date: string;
  readonly commit: string;
  readonly machine: string;
  /** The test runner's summary line. */
  readonly summary: string;
}

/** Where each suite's tests live, and what it is about; suites not listed come last. */
const SUITES: readonly { readonly suite: string; readonly title: string; readonly file: string }[] =
  [
    {
      suite: 'operator-connect-faults',
      title: 'Connect answers corrupted by a proxy',
      file: 'test/e2e/operator-connect-faults.test.ts',
    },
    {
      suite: 'operator-faults',
      title: 'Connect down or hung',
      file: 'test/e2e/operator-faults.test.ts',
    },
    {
      suite: 'operator-data-safety',
      title: 'Collisions, oversized items, vanished vaults, lost keys',
      file: 'test/e2e/operator-data-safety.test.ts',
    },
    {
      suite: 'kube-client-resilience',
      title: 'The apiserver refusing an oversized request',
      file: 'test/e2e/kube-client-resilience.test.ts',
    },
    {
      suite: 'operator-vault-policy',
      title: 'A tenant reaching for other vaults',
      file: 'test/e2e/operator-vault-policy.test.ts',
    },
    {
      suite: 'webhook-fuzz',
      title: 'Malformed admission requests',
      file: 'test/unit/webhook/admission-fuzz.test.ts',
    },
    {
      suite: 'connect-local-audit',
      title: 'Flooding and dodging the audit log',
      file: 'test/e2e/connect-local-audit.test.ts',
    },
    { suite: 'leak', title: 'Secrets in observable output', file: 'test/e2e/leak.test.ts' },
  ];

function seconds(ms: number | undefined): string {
  return ms === undefined ? '—' : `${(ms / 1000).toFixed(1)} s`;
}

/** Table cells: no pipe or line break may escape its cell. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

export function renderReliability(rows: readonly RecordedRow[], facts: RunFacts): string {
  const known = new Set(SUITES.map((entry) => entry.suite));
  const extra = [...new Set(rows.map((row) => row.suite).filter((suite) => !known.has(suite)))];
  const sections = [
    ...SUITES,
    ...extra.map((suite) => ({ suite, title: suite, file: '' })),
  ].flatMap(({ suite, title, file }) => {
    const mine = rows.filter((row) => row.suite === suite);
    if (mine.length === 0) return [];
    return [
      `## ${title}`,
      '',
      ...(file ? [`\`${file}\``, ''] : []),
      '| fault | expected | observed | detected after | recovered after |',
      '| --- | --- | --- | --- | --- |',
      ...mine.map(
        (row) =>
          `| ${cell(row.fault)} | ${cell(row.expected)} | ${cell(row.observed)} | ${seconds(row.detectMs)} | ${seconds(row.recoveryMs)} |`,
      ),
      '',
    ];
  });
  return [
    '# Reliability: what op-kube does when the world misbehaves',
    '',
    'Written by `npm run reliability` from one real run of `npm test`: each fault test records what it',
    'measured while it ran. Nothing in the tables is typed by hand; run it again to refresh them.',
    '"Detected after" runs from the fault (or the change that meets it) to op-kube reporting it;',
    '"recovered after" from the fault healing to op-kube back to normal. In every case the Secrets',
    'kept their last good data, which the tests assert.',
    '',
    `Run: ${facts.date}, commit ${facts.commit}, ${facts.machine}. Test run: \`${facts.summary}\`.`,
    '',
    ...sections,
  ].join('\n');
}
