// SSRF guard: which IP addresses the webhook may not fetch from unless a registry is allowed by name (--registry-allow-internal).
import { isIP } from 'node:net';

export type RestrictedAddress =
  'loopback' | 'link-local' | 'metadata' | 'unspecified' | 'multicast';

/** Cloud metadata endpoints outside link-local space (AWS's IPv6, Alibaba's). */
const METADATA_V4 = new Set(['100.100.100.200']);
const METADATA_V6 = new Set(['fd00:ec2:0:0:0:0:0:254']);

function v4Parts(address: string): number[] | undefined {
  const parts = address.split('.').map(Number);
  return parts.length === 4 &&
    parts.every((part) => Number.isInteger(part) && part >= 0 && part <= 255)
    ? parts
    : undefined;
}

function classifyV4(address: string): RestrictedAddress | undefined {
  const parts = v4Parts(address);
  if (!parts) return undefined;
  const [a = 0, b = 0] = parts;
  if (address === '169.254.169.254' || address === '169.254.170.2' || METADATA_V4.has(address)) {
    return 'metadata';
  }
  if (a === 127) return 'loopback';
  if (a === 0) return 'unspecified';
  if (a === 169 && b === 254) return 'link-local';
  if (a >= 224) return 'multicast';
  return undefined;
}

/** The eight 16-bit groups of an IPv6 address (with an embedded dotted IPv4 tail). */
function v6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const parts = v4Parts(dotted[1]);
    if (!parts) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = parts;
    text = `${text.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail, extra] = text.split('::');
  if (extra !== undefined) return undefined;
  const parse = (part: string): number[] =>
    part === '' ? [] : part.split(':').map((group) => parseInt(group, 16));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 0) return undefined;
  const groups = [...left, ...Array<number>(missing).fill(0), ...right];
  return groups.every((group) => Number.isInteger(group) && group >= 0 && group <= 0xffff)
    ? groups
    : undefined;
}

function classifyV6(address: string): RestrictedAddress | undefined {
  const groups = v6Groups(address);
  if (!groups) return undefined;
  const [g0 = 0, , , , , g5 = 0, g6 = 0, g7 = 0] = groups;
  const zeroPrefix = groups.slice(0, 5).every((group) => group === 0);
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) addresses reach the IPv4 host.
  if (zeroPrefix && (g5 === 0xffff || (g5 === 0 && (g6 !== 0 || g7 > 1)))) {
    return classifyV4(`${g6 >> 8}.${g6 & 0xff}.${g7 >> 8}.${g7 & 0xff}`);
  }
  if (METADATA_V6.has(groups.map((group) => group.toString(16)).join(':'))) return 'metadata';
  if (zeroPrefix && g5 === 0 && g6 === 0 && g7 === 1) return 'loopback';
  if (groups.every((group) => group === 0)) return 'unspecified';
  if ((g0 & 0xffc0) === 0xfe80) return 'link-local';
  if ((g0 & 0xff00) === 0xff00) return 'multicast';
  return undefined;
}

/**
 * Why the webhook must not connect to `address` (an IP literal), or undefined when it may. Private
 * ranges (10/8, 192.168/16, fc00::/7 but AWS's metadata) stay allowed: in-cluster registries live
 * there. Not an IP address → undefined (resolve it first).
 */
export function restrictedAddress(address: string): RestrictedAddress | undefined {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  switch (isIP(bare)) {
    case 4:
      return classifyV4(bare);
    case 6:
      return classifyV6(bare);
    default:
      return undefined;
  }
}
