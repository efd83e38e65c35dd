// `op-kube crds apply`: installs or upgrades the OnePasswordItem CRD this build carries (the chart's
// crds.upgrade hook Job runs it), since Helm never replaces an existing CRD.
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Command } from '../cli/command.ts';
import { ExitCode, UsageError } from '../cli/errors.ts';
import { defineFlag, parseFlags, readFlags } from '../cli/flags.ts';
import { isKubeApiError } from '../kube/client/api-error.ts';
import { resourcePath } from '../kube/client/resources.ts';
import type { CustomResourceDefinition } from './crd-check.ts';

/** crds/ beside dist/ (the image's /app/crds) or beside src/ in a checkout. */
const BUNDLED_CRD = fileURLToPath(
  new URL('../../crds/onepassword.com_onepassworditems.yaml', import.meta.url),
);

const applyFlags = {
  file: defineFlag({
    name: 'file',
    kind: 'string',
    usage: 'the CRD manifest to apply',
    default: BUNDLED_CRD,
  }),
  kubeconfig: defineFlag({
    name: 'kubeconfig',
    kind: 'string',
    usage: 'kubeconfig file when running outside a cluster (default: in-cluster, then KUBECONFIG)',
  }),
  timeout: defineFlag({
    name: 'timeout',
    kind: 'duration',
    usage: 'how long to wait for the apiserver and for the CRD to be Established',
    default: 60_000,
  }),
};

const DETAILS = `Subcommands:
  apply   server-side apply op-kube's OnePasswordItem CRD (with --force-conflicts, as
          kubectl apply --server-side --force-conflicts), then wait until it is Established.
          Replaces 1Password's CRD, which drops op-kube's status fields. Needs get, create and
          patch on customresourcedefinitions/onepassworditems.onepassword.com only.

Flags of apply:
  --file string        the CRD manifest to apply (default ${BUNDLED_CRD})
  --kubeconfig string  kubeconfig file when running outside a cluster
  --timeout duration   wait for the apiserver and for Established (default 1m0s)`;

interface Condition {
  type?: string;
  status?: string;
}

function established(crd: CustomResourceDefinition): boolean {
  const conditions = (crd as { status?: { conditions?: Condition[] } }).status?.conditions ?? [];
  return conditions.some(
    (condition) => condition.type === 'Established' && condition.status === 'True',
  );
}

export const crdsCommand: Command = {
  name: 'crds',
  summary: "install or upgrade op-kube's OnePasswordItem CRD (`op-kube crds apply`)",
  flags: [],
  details: DETAILS,
  takesArguments: true,
  async run(parsed, io) {
    const [subcommand, ...rest] = parsed.rest;
    if (subcommand !== 'apply') {
      throw new UsageError(
        subcommand === undefined
          ? 'missing subcommand: apply'
          : `unknown subcommand ${JSON.stringify(subcommand)} (want apply)`,
      );
    }
    const flags = readFlags(parseFlags(Object.values(applyFlags), rest), applyFlags);
    // Loaded only to run: listing or inferring commands needs no apiserver client.
    const [{ KubeClient }, { loadKubeConfig }, check] = await Promise.all([
      import('../kube/client/client.ts'),
      import('../kube/client/kubeconfig.ts'),
      import('./crd-check.ts'),
    ]);
    const { CRD_VERSION, CRD_VERSION_ANNOTATION, applyCrd, assessCrd, readCrdFile } = check;
    const crd = await readCrdFile(flags.file);
    const name = crd.metadata?.name ?? '';
    const loaded = loadKubeConfig({
      ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
      env: io.env,
    });
    const kube = new KubeClient(loaded, { userAgent: 'op-kube-crds' });
    const deadline = Date.now() + flags.timeout;
    try {
      let applied: CustomResourceDefinition;
      try {
        applied = await applyCrd(kube, crd, AbortSignal.timeout(flags.timeout));
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        io.stderr.write(`op-kube crds apply: cannot apply ${name}: ${why}\n`);
        if (isKubeApiError(error, 403)) {
          io.stderr.write(
            `op-kube crds apply: needs get, create and patch on customresourcedefinitions/${name}\n`,
          );
        }
        return ExitCode.config;
      }
      const assessment = assessCrd(applied);
      if (assessment.outdated) {
        io.stderr.write(
          `op-kube crds apply: ${name} applied but still lacks ${assessment.missing.join(', ')}\n`,
        );
        return ExitCode.config;
      }
      const path = resourcePath({
        apiVersion: 'apiextensions.k8s.io/v1',
        plural: 'customresourcedefinitions',
        name,
      });
      while (!established(applied)) {
        if (Date.now() > deadline) {
          io.stderr.write(`op-kube crds apply: ${name} applied but not Established in time\n`);
          return ExitCode.config;
        }
        await sleep(250);
        applied = await kube.request<CustomResourceDefinition>({
          method: 'GET',
          path,
          operation: `get CustomResourceDefinition ${name}`,
          signal: AbortSignal.timeout(10_000),
        });
      }
      const version = applied.metadata?.annotations?.[CRD_VERSION_ANNOTATION] ?? 'none';
      io.stdout.write(
        `customresourcedefinition ${name} applied and Established (${CRD_VERSION_ANNOTATION} ${version}, this build ${CRD_VERSION})\n`,
      );
      return ExitCode.ok;
    } finally {
      await kube.close();
    }
  },
};
