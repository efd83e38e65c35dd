// `npm run demo`: the whole system on this machine — the local control plane, connect-local seeded
// from examples/connect-local.yaml, `op-kube operator` and `op-kube webhook` — applies the manifests
// of examples/demo/, shows what they became, edits an item and shows the change arrive.
// It only ever talks to the plane's own kubeconfig, never the user's current kube context.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  namesWith,
  newDemo,
  parseArguments,
  printExplore,
  suffixFromEnv,
  type Demo,
  type Names,
} from './demo.ts';
import { applyExamples, editItem, showItem, showPod, showSecrets, showTenant } from './examples.ts';
import {
  helmInstall,
  injectedPod,
  nodeAndImages,
  nodeEditItem,
  nodeNamespaces,
  nodeSecret,
  podsRunning,
  printNodeDiagnostics,
  printNodeExplore,
} from './node.ts';
import { failureMessage, out } from './output.ts';
import { connectLocal, controlPlane, crd, namespaces, operator, webhook } from './start.ts';

type Steps = readonly (readonly [title: string, step: (demo: Demo) => Promise<void>])[];

const STEPS: Steps = [
  ['local control plane', controlPlane],
  ['namespaces', namespaces],
  ['connect-local and its token', connectLocal],
  ['OnePasswordItem CRD', crd],
  ['op-kube operator', operator],
  ['op-kube webhook', webhook],
  ['applying examples/demo', applyExamples],
  ['Secrets made by the operator', showSecrets],
  ['OnePasswordItem status', showItem],
  ["team B's namespace, with its own token", showTenant],
  ['the injected pod', showPod],
  ['editing the item in connect-local', editItem],
];

/** --node: the chart on the local worker node, as users run it. */
const NODE_STEPS: Steps = [
  ['local control plane, worker node and images', nodeAndImages],
  ['namespaces', nodeNamespaces],
  ['helm install charts/op-kube (with connect-local)', helmInstall],
  ['pods Running and Ready', podsRunning],
  ['a OnePasswordItem and its Secret', nodeSecret],
  ['an injected pod', injectedPod],
  ['editing the item in connect-local', nodeEditItem],
];

async function main(): Promise<number> {
  const parsed = parseArguments(process.argv.slice(2));
  if (typeof parsed === 'number') return parsed;
  let names: Names;
  try {
    names = namesWith(suffixFromEnv());
  } catch (error) {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  const workDir = await mkdtemp(join(tmpdir(), 'op-kube-demo-'));
  const demo = newDemo(parsed.keep, names, workDir);
  demo.cleanUp.add('removing the work dir', () => rm(workDir, { recursive: true, force: true }));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      out(`\n${signal}: stopping`);
      demo.services.interrupted = true;
      void demo.cleanUp.run().finally(() => process.exit(130));
    });
  }

  const steps = parsed.node ? NODE_STEPS : STEPS;
  for (const [index, [title, step]] of steps.entries()) {
    out(`==> [${index + 1}/${steps.length}] ${title}`);
    try {
      await step(demo);
    } catch (error) {
      if (demo.services.interrupted) {
        await demo.cleanUp.run();
        return 130;
      }
      process.stderr.write(
        `\ndemo failed at step ${index + 1} (${title}): ${failureMessage(error)}\n`,
      );
      await demo.services.printLogTails();
      if (parsed.node) await printNodeDiagnostics(demo);
      await demo.cleanUp.run();
      return 1;
    }
  }
  if (demo.keep) {
    demo.services.release();
    if (parsed.node) printNodeExplore(demo);
    else printExplore(demo);
    return 0;
  }
  await demo.cleanUp.run();
  out('demo complete');
  return 0;
}

process.exitCode = await main();
