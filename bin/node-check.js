// Preflight: exits with one line saying what to run when the Node.js running it is older than 24.
// Imported first by bin/op-kube.js and preloaded by the npm scripts (`node --import
// ./bin/node-check.js ...`), so an old Node stops here instead of failing on the first .ts file
// with ERR_UNKNOWN_FILE_EXTENSION. Plain JavaScript that any Node.js can parse.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MINIMUM_NODE_MAJOR = 24;
const major = Number(process.versions.node.split('.')[0]);

/** What to do about it, by where we run: a checkout (src/ present) or an installed package. */
function remedy(root) {
  if (!existsSync(join(root, 'src', 'cli.ts'))) return 'install Node.js 24 LTS';
  // The `node` dev dependency puts Node 24 in node_modules/.bin, which npm puts first on the PATH
  // of its scripts; its install script writes that binary, so --ignore-scripts leaves the link
  // dangling and the machine's own node runs instead.
  if (existsSync(join(root, 'node_modules', 'node', 'package.json'))) {
    if (!existsSync(join(root, 'node_modules', '.bin', 'node'))) {
      return (
        "node_modules/.bin/node is missing because the `node` package's install script did not " +
        'run (npm ci --ignore-scripts): run `npm rebuild node --ignore-scripts=false` once'
      );
    }
    return 'run it through npm (`npm run <script>`, `npx op-kube`), which uses node_modules/.bin/node';
  }
  return 'run `npm ci` first: it installs Node.js 24 into node_modules/.bin';
}

if (major < MINIMUM_NODE_MAJOR) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  process.stderr.write(
    `op-kube needs Node.js ${MINIMUM_NODE_MAJOR} or newer, but ${process.execPath} is ` +
      `${process.version}: ${remedy(root)}.\n`,
  );
  process.exit(1);
}
