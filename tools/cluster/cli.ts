// `npm run cluster:up|down|status` (`cluster:up -- --node` adds a worker node) and
// `npm run cluster -- start|stop|restart <component>`.
import { existsSync } from 'node:fs';
import { MissingGoError } from './build.ts';
import { COMPONENTS, ControlPlane, type Component } from './plane.ts';
import { startNode } from './node/index.ts';
import { LocalNode, NODE_COMPONENTS } from './node/node.ts';
import { NODE_NAME } from './node/layout.ts';

const log = (line: string): void => {
  process.stderr.write(`[cluster] ${line}\n`);
};

async function run(action: string | undefined, argument: string | undefined): Promise<number> {
  const plane = new ControlPlane(process.env.OP_KUBE_CLUSTER_DIR, log);
  switch (action) {
    case 'up': {
      const started = Date.now();
      if (argument === '--node') {
        const node = await startNode({ dir: plane.dir, log });
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        log(
          node.started
            ? `plane and node ${NODE_NAME} up in ${seconds}s at ${await plane.apiserverUrl()}`
            : `already up, with node ${NODE_NAME} (${await plane.apiserverUrl()})`,
        );
        log(`kubectl: ${plane.binDir}/kubectl --kubeconfig ${plane.kubeconfigPath}`);
        return 0;
      }
      if (argument !== undefined) {
        log('usage: cluster up [--node]');
        return 2;
      }
      const outcome = await plane.up();
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      log(
        outcome === 'already-running'
          ? `already up (${await plane.apiserverUrl()})`
          : `up in ${seconds}s at ${await plane.apiserverUrl()}`,
      );
      log(`kubectl: ${plane.binDir}/kubectl --kubeconfig ${plane.kubeconfigPath}`);
      return 0;
    }
    case 'down': {
      const stopped = await plane.down();
      log(stopped ? `stopped ${stopped} process(es)` : 'nothing was running');
      return 0;
    }
    case 'status': {
      const status = await plane.status();
      for (const component of COMPONENTS) {
        const entry = status[component];
        console.log(
          `${component.padEnd(24)} ${entry.running ? `running (pid ${entry.pid})` : 'stopped'}`,
        );
      }
      let healthy = COMPONENTS.every((component) => status[component].running);
      const node = new LocalNode(plane.dir);
      if (existsSync(node.dir)) {
        const nodeStatus = await node.status();
        for (const component of NODE_COMPONENTS) {
          const entry = nodeStatus[component];
          console.log(
            `${`node/${component}`.padEnd(24)} ${entry.running ? `running (pid ${entry.pid})` : 'stopped'}`,
          );
        }
        healthy &&= NODE_COMPONENTS.every((component) => nodeStatus[component].running);
      }
      return healthy ? 0 : 3;
    }
    case 'start':
    case 'stop':
    case 'restart': {
      if (!COMPONENTS.includes(argument as Component)) {
        log(`usage: cluster ${action} <${COMPONENTS.join('|')}>`);
        return 2;
      }
      await plane[action](argument as Component);
      return 0;
    }
    default:
      log(`usage: cluster <up|down|status|start|stop|restart> [component]`);
      return 2;
  }
}

try {
  process.exitCode = await run(process.argv[2], process.argv[3]);
} catch (error) {
  log(
    error instanceof MissingGoError
      ? error.message
      : error instanceof Error
        ? (error.stack ?? error.message)
        : String(error),
  );
  process.exitCode = 1;
}
