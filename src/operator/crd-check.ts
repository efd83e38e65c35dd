// The OnePasswordItem CRD a cluster actually has: checked at start, upgraded by `op-kube crds apply`.
//
// Helm installs a chart's crds/ only when the CRD does not exist yet and never replaces it, so a
// cluster that ran 1Password's chart keeps 1Password's CRD after switching to op-kube. Its schema
// has no `reason`, `itemVersion`, `lastSyncTime`, `observedGeneration` or `secretName` in status,
// so the apiserver prunes them from every status op-kube writes, and `kubectl get opi` shows only
// Ready. Nothing else breaks (the spec is the same), so the operator keeps working; it says,
// once at start, exactly what to run: a log line, a Warning Event on the CRD and a metric.
import { readFile } from 'node:fs/promises';
import type { KubernetesObject } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import type { Logger } from 'pino';
import { isKubeApiError } from '../kube/client/api-error.ts';
import { serverSideApply } from '../kube/client/apply.ts';
import type { KubeClient } from '../kube/client/client.ts';
import { resourcePath } from '../kube/client/resources.ts';
import type { EventRecorder } from '../kube/events.ts';

export const ITEM_CRD_NAME = 'onepassworditems.onepassword.com';
/** Carried by op-kube's CRD: the revision of its schema (an integer, raised when crds/ changes). */
export const CRD_VERSION_ANNOTATION = 'op-kube.io/crd-version';
/** The revision this build's crds/ carries; a unit test keeps the two equal. */
export const CRD_VERSION = 2;
/** Who owns the CRD's fields after `op-kube crds apply` (server-side apply). */
export const CRD_FIELD_MANAGER = 'op-kube-crds';

/** What to run, in the log line and the Event (the Event's note is at most 1024 bytes). */
export const CRD_UPGRADE_ADVICE =
  "upgrade it: helm upgrade <release> <op-kube chart> --reuse-values --set crds.upgrade=true (a hook Job applies op-kube's CRD), " +
  'or kubectl apply --server-side --force-conflicts -f crds/onepassword.com_onepassworditems.yaml from the op-kube release, ' +
  'or op-kube crds apply; Helm never replaces an existing CRD';

/** Status fields op-kube writes; a schema without them prunes them. */
const STATUS_FIELDS = ['itemVersion', 'lastSyncTime', 'observedGeneration', 'secretName'] as const;
const CONDITION_FIELDS = ['reason', 'observedGeneration'] as const;
/** op-kube's optional spec fields (revision 2); a schema without them refuses or prunes them. */
const SPEC_FIELDS = [
  'keys',
  'includeOtherKeys',
  'secretMetadata',
  'extraItems',
  'refreshInterval',
] as const;
const PRINTER_COLUMNS = ['Reason', 'Version', 'Synced'] as const;

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

export interface CustomResourceDefinition extends KubernetesObject {
  spec?: {
    versions?: {
      name?: string;
      storage?: boolean;
      additionalPrinterColumns?: { name?: string }[];
      schema?: { openAPIV3Schema?: SchemaNode };
    }[];
  };
}

export interface CrdAssessment {
  readonly outdated: boolean;
  /** The op-kube.io/crd-version it carries (undefined: none, e.g. 1Password's CRD). */
  readonly version: number | undefined;
  /** What it lacks, e.g. `status.itemVersion`, `printer column Reason`, `op-kube.io/crd-version >= 1`. */
  readonly missing: readonly string[];
}

function keeps(node: SchemaNode | undefined, field: string): boolean {
  if (node === undefined) return false;
  if (node['x-kubernetes-preserve-unknown-fields'] === true && node.properties === undefined) {
    return true;
  }
  return node.properties?.[field] !== undefined;
}

/** Whether `crd` (as read from the apiserver) is op-kube's current OnePasswordItem CRD. */
export function assessCrd(crd: CustomResourceDefinition): CrdAssessment {
  const missing: string[] = [];
  const raw = crd.metadata?.annotations?.[CRD_VERSION_ANNOTATION];
  const parsed = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
  if (parsed === undefined || parsed < CRD_VERSION) {
    missing.push(`${CRD_VERSION_ANNOTATION} >= ${CRD_VERSION}`);
  }
  const versions = crd.spec?.versions ?? [];
  const v1 = versions.find((version) => version.name === 'v1') ?? versions[0];
  const spec = v1?.schema?.openAPIV3Schema?.properties?.spec;
  for (const field of SPEC_FIELDS) {
    if (!keeps(spec, field)) missing.push(`spec.${field}`);
  }
  const status = v1?.schema?.openAPIV3Schema?.properties?.status;
  for (const field of STATUS_FIELDS) {
    if (!keeps(status, field)) missing.push(`status.${field}`);
  }
  const condition = status?.properties?.conditions?.items;
  for (const field of CONDITION_FIELDS) {
    if (!keeps(condition, field)) missing.push(`status.conditions[].${field}`);
  }
  const columns = new Set((v1?.additionalPrinterColumns ?? []).map((column) => column.name));
  for (const column of PRINTER_COLUMNS) {
    if (!columns.has(column)) missing.push(`printer column ${column}`);
  }
  return { outdated: missing.length > 0, version: parsed, missing };
}

/** What an outdated CRD does to op-kube's own spec fields, or '' when it has them all. */
function specFieldsAdvice(missing: readonly string[]): string {
  const lacking = missing.filter((entry) => entry.startsWith('spec.'));
  if (lacking.length === 0) return '';
  return (
    `It has no ${lacking.join(', ')}: kubectl apply refuses them (strict field validation) and ` +
    `other clients' writes lose them, so such items get 1Password's whole-item mapping and no extra labels. `
  );
}

export interface CrdCheckOptions {
  readonly kube: KubeClient;
  readonly events: Pick<EventRecorder, 'warning'>;
  /** 1: outdated or missing, 0: current, undefined: could not be read. */
  readonly setOutdated: (outdated: boolean | undefined) => void;
  readonly logger: Logger;
  readonly name?: string;
  readonly timeoutMs?: number;
}

/**
 * Reads the installed CRD once and reports an outdated one (log, Warning Event on the CRD,
 * metric). Never throws and never stops the operator: a CRD it cannot read (403 without the
 * chart's RBAC, an apiserver that does not answer) is logged once and left unchecked.
 */
export async function checkItemCrd(options: CrdCheckOptions): Promise<CrdAssessment | undefined> {
  const { kube, logger } = options;
  const name = options.name ?? ITEM_CRD_NAME;
  let crd: CustomResourceDefinition;
  try {
    crd = await kube.request<CustomResourceDefinition>({
      method: 'GET',
      path: resourcePath({
        apiVersion: 'apiextensions.k8s.io/v1',
        plural: 'customresourcedefinitions',
        name,
      }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      operation: `get CustomResourceDefinition ${name}`,
    });
  } catch (error) {
    if (isKubeApiError(error, 404)) {
      options.setOutdated(true);
      logger.error(
        { crd: name },
        `the OnePasswordItem CRD ${name} is not installed: OnePasswordItems cannot be watched; install it: ${CRD_UPGRADE_ADVICE}`,
      );
      return { outdated: true, version: undefined, missing: ['the CRD'] };
    }
    options.setOutdated(undefined);
    const forbidden = isKubeApiError(error, 401, 403);
    logger.info(
      { crd: name, err: forbidden ? undefined : error },
      forbidden
        ? `cannot read the CRD ${name} (no get on customresourcedefinitions): not checked whether it is op-kube's current CRD`
        : `could not read the CRD ${name}: not checked whether it is op-kube's current CRD`,
    );
    return undefined;
  }
  const assessment = assessCrd(crd);
  options.setOutdated(assessment.outdated);
  if (!assessment.outdated) {
    logger.debug(
      { crd: name, crdVersion: assessment.version },
      'the OnePasswordItem CRD is current',
    );
    return assessment;
  }
  const what =
    assessment.version === undefined
      ? `is not op-kube's (1Password's, or older)`
      : `is op-kube's revision ${assessment.version}, this operator needs ${CRD_VERSION}`;
  const message =
    `The CRD ${name} ${what}: the apiserver drops the status fields it lacks ` +
    `(${assessment.missing.filter((entry) => entry.startsWith('status')).join(', ') || 'none'}), so kubectl get opi shows less; ` +
    `items still sync. ${specFieldsAdvice(assessment.missing)}To ${CRD_UPGRADE_ADVICE}`;
  logger.warn(
    {
      crd: name,
      crdVersion: assessment.version,
      expected: CRD_VERSION,
      missing: assessment.missing,
    },
    message,
  );
  options.events.warning(
    {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: {
        name,
        ...(crd.metadata?.uid ? { uid: crd.metadata.uid } : {}),
      },
    },
    'OutdatedCRD',
    message,
    { action: 'CheckCRD' },
  );
  return assessment;
}

/** Reads a CRD manifest (one YAML document) such as crds/onepassword.com_onepassworditems.yaml. */
export async function readCrdFile(path: string): Promise<CustomResourceDefinition> {
  const loaded = yaml.load(await readFile(path, 'utf8')) as CustomResourceDefinition | undefined;
  if (loaded?.kind !== 'CustomResourceDefinition' || !loaded.metadata?.name) {
    throw new TypeError(`${path} is not a CustomResourceDefinition`);
  }
  return loaded;
}

/**
 * Server-side applies `crd` with force, as `kubectl apply --server-side --force-conflicts` does:
 * fields Helm or 1Password's tools set pass to op-kube's field manager. A version's
 * openAPIV3Schema is atomic for server-side apply, so it is replaced whole: nothing of
 * 1Password's schema (e.g. its status.required) is left behind (the e2e test compares). Needs
 * create and patch on this one CRD only (create through apply carries the name in the URL, so
 * resourceNames restricts it; a POST create could not be restricted).
 */
export function applyCrd(
  kube: KubeClient,
  crd: CustomResourceDefinition,
  signal?: AbortSignal,
): Promise<CustomResourceDefinition> {
  return serverSideApply(kube, crd, {
    fieldManager: CRD_FIELD_MANAGER,
    force: true,
    ...(signal ? { signal } : {}),
  });
}
