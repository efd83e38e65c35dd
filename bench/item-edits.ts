// Change → Secret for the operator-scale benchmark: which items to edit, editing them through
// connect-local's Connect API as a user would (PATCH of the password field, with a write token),
// and the percentiles of the time from each edit's acknowledgement to its Secret showing it.

/** One planned edit: the item `item-<i>` of vault `vault-<v>`, its Secret `item-<v>-<i>`. */
export interface PlannedEdit {
  readonly v: number;
  readonly i: number;
  readonly secret: string;
}

/**
 * `count` edits spread over the vaults (round robin) and, within each vault, evenly over its items.
 * `perVault(v)` is how many items vault v holds.
 */
export function planEdits(
  vaults: number,
  perVault: (v: number) => number,
  count: number,
): PlannedEdit[] {
  const used = Array.from({ length: vaults }, (_, v) => v).filter((v) => perVault(v) > 0);
  const slots = Math.ceil(count / Math.max(1, used.length));
  const edits: PlannedEdit[] = [];
  const seen = new Set<string>();
  for (let k = 0; k < count && used.length > 0; k += 1) {
    const v = used[k % used.length] ?? 0;
    const i = Math.floor((Math.floor(k / used.length) * perVault(v)) / slots);
    const secret = `item-${v}-${i}`;
    if (seen.has(secret)) continue;
    seen.add(secret);
    edits.push({ v, i, secret });
  }
  return edits;
}

/** Nearest-rank percentile of ascending `sorted` (q in (0, 1]); undefined when empty. */
export function percentile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1];
}

export interface ChangeSummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * p50/p99/max over every edit; an edit whose Secret never showed it counts as infinitely late, so
 * one missing edit makes max infinite and more than 1 % missing makes p99 infinite.
 */
export function summarize(latencies: readonly number[], missing: number): ChangeSummary {
  const all = [...latencies, ...Array.from({ length: missing }, () => Infinity)].sort(
    (a, b) => a - b,
  );
  return {
    p50: percentile(all, 0.5) ?? Infinity,
    p99: percentile(all, 0.99) ?? Infinity,
    max: all.at(-1) ?? Infinity,
  };
}

interface FieldView {
  readonly id: string;
  readonly label?: string;
  readonly purpose?: string;
}

/** Edits items through the Connect API (`/v1`) of connect-local with a read-write token. */
export class ConnectEditor {
  readonly #url: string;
  readonly #token: string;
  readonly #vaultIds = new Map<string, string>();
  readonly #itemIds = new Map<string, Map<string, string>>();
  readonly #targets = new Map<string, { vaultId: string; itemId: string; fieldId: string }>();

  constructor(url: string, token: string) {
    this.#url = url;
    this.#token = token;
  }

  async #request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.#url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.#token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok) {
      throw new Error(`connect-local ${method} ${path}: HTTP ${response.status}`);
    }
    return (await response.json()) as T;
  }

  /** Looks up the ids of every planned edit's vault, item and password field (untimed). */
  async prepare(edits: readonly PlannedEdit[]): Promise<void> {
    for (const vault of await this.#request<{ id: string; name: string }[]>('GET', '/v1/vaults')) {
      this.#vaultIds.set(vault.name, vault.id);
    }
    for (const edit of edits) {
      const vaultId = this.#vaultIds.get(`vault-${edit.v}`);
      if (!vaultId) throw new Error(`connect-local has no vault vault-${edit.v}`);
      let items = this.#itemIds.get(vaultId);
      if (!items) {
        const list = await this.#request<{ id: string; title: string }[]>(
          'GET',
          `/v1/vaults/${vaultId}/items`,
        );
        items = new Map(list.map((item) => [item.title, item.id]));
        this.#itemIds.set(vaultId, items);
      }
      const itemId = items.get(`item-${edit.i}`);
      if (!itemId) throw new Error(`connect-local has no item item-${edit.i} in vault-${edit.v}`);
      const item = await this.#request<{ fields?: FieldView[] }>(
        'GET',
        `/v1/vaults/${vaultId}/items/${itemId}`,
      );
      const field = item.fields?.find((candidate) => candidate.label === 'password');
      if (!field) throw new Error(`item-${edit.i} in vault-${edit.v} has no password field`);
      this.#targets.set(edit.secret, { vaultId, itemId, fieldId: field.id });
    }
  }

  /** Sets the item's password; resolves when connect-local acknowledged the edit. */
  async edit(edit: PlannedEdit, password: string): Promise<void> {
    const target = this.#targets.get(edit.secret);
    if (!target) throw new Error(`${edit.secret}: not prepared`);
    await this.#request('PATCH', `/v1/vaults/${target.vaultId}/items/${target.itemId}`, [
      { op: 'replace', path: `/fields/${target.fieldId}/value`, value: password },
    ]);
  }
}

/** What the change → Secret measurement of one run holds (see ChangeResult in operator.ts). */
export interface ChangeFigures {
  readonly edits: number;
  readonly latencies: readonly number[];
  readonly missing: readonly string[];
  readonly timeoutSeconds: number;
}

/** Issue #15's target: every edit in its Secret within POLLING_INTERVAL + 1 s at p99. */
export function changeTarget(pollingSeconds: number): number {
  return pollingSeconds + 1;
}

/**
 * The verdict (none missing and p99 ≤ target) and its wording: a table cell
 * ("0.5 / 10.2 / 10.4 PASS") and a sentence for the notes.
 */
export function describeChange(
  change: ChangeFigures,
  pollingSeconds: number,
): { passed: boolean; cell: string; line: string } {
  const target = changeTarget(pollingSeconds);
  const { p50, p99, max } = summarize(change.latencies, change.missing.length);
  const passed = change.missing.length === 0 && p99 <= target;
  const s = (value: number): string => (Number.isFinite(value) ? value.toFixed(1) : 'never');
  const seconds = (value: number): string => (Number.isFinite(value) ? `${s(value)} s` : 'never');
  const never =
    change.missing.length > 0
      ? `, ${change.missing.length} of ${change.edits} never (> ${change.timeoutSeconds.toFixed(0)} s)`
      : '';
  return {
    passed,
    cell: `${s(p50)} / ${s(p99)} / ${s(max)} ${passed ? 'PASS' : 'FAIL'}${never}`,
    line:
      `change → Secret over ${change.edits} edits: p50 ${seconds(p50)}, p99 ${seconds(p99)}, max ${seconds(max)}` +
      `${never} (target p99 ≤ ${target} s, POLLING_INTERVAL + 1 s)`,
  };
}
