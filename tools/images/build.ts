// `node tools/images/build.ts`: builds (or finds cached) the base, product and op stand-in images and prints where they are.
import { ensureImages } from './index.ts';

const started = Date.now();
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
try {
  const images = await ensureImages(log);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`${JSON.stringify(images, null, 2)}\n`);
  log(`images: ready in ${seconds}s`);
} catch (error) {
  log(`images: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
