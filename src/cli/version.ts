// The version in op-kube's package.json, read where it is (two levels above this module in src/ and in dist/).
import { readFileSync } from 'node:fs';

/** The package version, or undefined when package.json cannot be read or has none. */
export function packageVersion(): string | undefined {
  try {
    const manifest: unknown = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    );
    const version = (manifest as { version?: unknown }).version;
    return typeof version === 'string' ? version : undefined;
  } catch {
    return undefined;
  }
}
