// Secrets as the apiserver stores them, and their values decoded, for e2e tests.
import assert from 'node:assert/strict';
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { adminClient, isStatus } from './cluster.ts';

/** Secret `namespace/name`, or undefined when there is none; any other failure is thrown. */
export async function readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await adminClient(CoreV1Api).readNamespacedSecret({ namespace, name });
  } catch (error) {
    if (isStatus(error, 404)) return undefined;
    throw error;
  }
}

/** The text of one key of a Secret's data; undefined when the Secret or the key is missing. */
export function secretValue(
  secret: Pick<V1Secret, 'data'> | undefined,
  key: string,
): string | undefined {
  const data = secret?.data?.[key];
  return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
}

/** Every key of a Secret's data, decoded. */
export function secretData(secret: Pick<V1Secret, 'data'> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(secret?.data ?? {}).map(([key, data]) => [
      key,
      Buffer.from(data, 'base64').toString('utf8'),
    ]),
  );
}

/** One key's text of Secret `namespace/name`, which must exist; a missing key reads as ''. */
export async function secretText(namespace: string, name: string, key: string): Promise<string> {
  const secret = await readSecret(namespace, name);
  assert.ok(secret, `Secret ${namespace}/${name} exists`);
  return secretValue(secret, key) ?? '';
}
