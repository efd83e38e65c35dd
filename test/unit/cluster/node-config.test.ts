import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import yaml from 'js-yaml';
import { CertificateAuthority, coversIpAddress } from '../../../tools/cluster/pki.ts';
import { mountsUnder } from '../../../tools/cluster/node/cleanup.ts';
import {
  cniConflist,
  containerdConfig,
  corefile,
  kubeletConfig,
  kubeProxyConfig,
  refusedRegistryHosts,
} from '../../../tools/cluster/node/config.ts';
import { corednsManifests } from '../../../tools/cluster/node/coredns.ts';
import {
  DNS_SERVICE_IP,
  KUBERNETES_SERVICE_IP,
  NODE_IP,
  POD_CIDR,
  SERVICE_CIDR,
} from '../../../tools/cluster/node/layout.ts';

const containerd = containerdConfig({
  root: '/n/containerd/root',
  state: '/n/containerd/state',
  socket: '/n/containerd/containerd.sock',
  runc: '/cache/runc',
  cniBinDir: '/cache/cni',
  cniConfDir: '/n/net.d',
  registryHostsDir: '/n/certs.d',
  sandboxImage: 'op-kube.local/pause:abc',
});

function inRange(ip: string, cidr: string): boolean {
  const toNumber = (address: string): number =>
    address.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
  const [base = '', bits = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toNumber(ip) / size) === Math.floor(toNumber(base) / size);
}

describe('worker node configuration', () => {
  it('keeps the layout consistent: node address in the pod range, Service IPs in the Service range', () => {
    assert.ok(inRange(NODE_IP, POD_CIDR));
    assert.ok(inRange(KUBERNETES_SERVICE_IP, SERVICE_CIDR));
    assert.ok(inRange(DNS_SERVICE_IP, SERVICE_CIDR));
    assert.ok(!inRange(NODE_IP, SERVICE_CIDR));
  });

  it('runs containerd on its own socket, state and registry hosts, with the local pause image', () => {
    assert.match(containerd, /^version = 4$/m);
    assert.match(containerd, /^imports = \[\]$/m);
    assert.match(
      containerd,
      /\[plugins\.'io\.containerd\.server\.v1\.grpc'\]\n {2}address = "\/n\/containerd\/containerd\.sock"/,
    );
    assert.match(containerd, /sandbox = "op-kube\.local\/pause:abc"/);
    assert.match(containerd, /config_path = "\/n\/certs\.d"/);
    assert.match(containerd, /SystemdCgroup = false/);
    assert.match(containerd, /Root = "\/n\/containerd\/state\/runc"/);
    assert.match(containerd, /netns_mounts_under_state_dir = true/);
    assert.match(containerd, /restrict_oom_score_adj = true/);
    const settings = containerd
      .split('\n')
      .filter((line) => !line.trim().startsWith('#'))
      .join('\n');
    assert.doesNotMatch(settings, /\/run\/containerd|\/var\/lib\/containerd|\/etc\//);
  });

  it('points every registry at a refused loopback port', () => {
    const hosts = refusedRegistryHosts();
    assert.match(hosts, /^server = "https:\/\/127\.0\.0\.1:1"$/m);
    assert.match(hosts, /^\[host\."https:\/\/127\.0\.0\.1:1"\]$/m);
  });

  it('gives pods a bridge without masquerade or default route', () => {
    const config = JSON.parse(cniConflist('/n/ipam')) as {
      plugins: {
        type: string;
        ipMasq?: boolean;
        isDefaultGateway?: boolean;
        snat?: boolean;
        ipam?: {
          dataDir: string;
          routes: { dst: string }[];
          ranges: { subnet: string; gateway: string }[][];
        };
      }[];
    };
    const bridge = config.plugins.find((plugin) => plugin.type === 'bridge');
    assert.equal(bridge?.ipMasq, false);
    assert.equal(bridge?.isDefaultGateway, false);
    assert.deepEqual(bridge?.ipam?.routes, [{ dst: SERVICE_CIDR }]);
    assert.deepEqual(bridge?.ipam?.ranges, [[{ subnet: POD_CIDR, gateway: NODE_IP }]]);
    assert.equal(bridge?.ipam?.dataDir, '/n/ipam');
    assert.equal(config.plugins.find((plugin) => plugin.type === 'portmap')?.snat, false);
  });

  it('configures the kubelet for cgroup v1 with cgroupfs, cluster DNS and authenticated access', () => {
    const config = yaml.load(
      kubeletConfig({
        caFile: '/p/ca.crt',
        tlsCertFile: '/p/k.crt',
        tlsKeyFile: '/p/k.key',
        containerdSocket: '/n/containerd.sock',
        resolvConf: '/n/resolv.conf',
        podLogsDir: '/n/pod-logs',
      }),
    ) as Record<string, unknown>;
    assert.equal(config.kind, 'KubeletConfiguration');
    assert.equal(config.failCgroupV1, false);
    assert.equal(config.cgroupDriver, 'cgroupfs');
    assert.deepEqual(config.clusterDNS, [DNS_SERVICE_IP]);
    assert.equal(config.address, NODE_IP);
    assert.equal(config.readOnlyPort, 0);
    assert.equal(config.containerRuntimeEndpoint, 'unix:///n/containerd.sock');
    assert.deepEqual(config.authentication, {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: '/p/ca.crt' },
    });
    assert.deepEqual(config.authorization, { mode: 'Webhook' });
  });

  it('keeps kube-proxy off the machine-wide conntrack settings and real interfaces', () => {
    const config = yaml.load(kubeProxyConfig('/n/kp.kubeconfig')) as Record<string, unknown>;
    assert.equal(config.mode, 'iptables');
    assert.deepEqual(config.nodePortAddresses, [`${NODE_IP}/32`]);
    assert.equal((config.conntrack as { maxPerCore: number }).maxPerCore, 0);
    assert.equal((config.iptables as { masqueradeAll: boolean }).masqueradeAll, false);
  });

  it('lets CoreDNS answer the cluster zones and NXDOMAIN everything else, forwarding nowhere', () => {
    const text = corefile();
    assert.doesNotMatch(text, /forward|proxy|\/etc\/resolv\.conf/);
    assert.match(text, /^cluster\.local:53 in-addr\.arpa:53 ip6\.arpa:53 \{$/m);
    assert.match(text, /^\.:53 \{\n(?:.*\n)*? {4}template ANY ANY \{\n {8}rcode NXDOMAIN\n/m);
  });

  it('deploys CoreDNS from the local image behind kube-dns on the kubelet clusterDNS address', () => {
    const objects = yaml.loadAll(corednsManifests('op-kube.local/coredns:x')) as {
      kind: string;
      spec?: {
        clusterIP?: string;
        template?: { spec: { containers: { image: string; imagePullPolicy: string }[] } };
      };
    }[];
    assert.equal(
      objects.find((object) => object.kind === 'Service')?.spec?.clusterIP,
      DNS_SERVICE_IP,
    );
    const container = objects.find((object) => object.kind === 'Deployment')?.spec?.template?.spec
      .containers[0];
    assert.equal(container?.image, 'op-kube.local/coredns:x');
    assert.equal(container?.imagePullPolicy, 'Never');
  });

  it('finds mounts under the node folder only, deepest first, decoding escaped spaces', () => {
    const mountinfo = [
      '22 1 8:1 / / rw - ext4 /dev/vda rw',
      '40 22 0:5 / /n/kubelet/pods/a/volumes/x rw - tmpfs tmpfs rw',
      '41 22 0:6 / /n/containerd/state/netns/cni-1 rw - nsfs nsfs rw',
      '42 22 0:7 / /n/kubelet/pods/a/volumes/with\\040space rw - tmpfs tmpfs rw',
      '43 22 0:8 / /nother/place rw - tmpfs tmpfs rw',
      '44 22 0:9 / /n/kubelet/pods/a/volumes/x/deeper rw - tmpfs tmpfs rw',
    ].join('\n');
    assert.deepEqual(mountsUnder('/n', mountinfo), [
      '/n/kubelet/pods/a/volumes/with space',
      '/n/kubelet/pods/a/volumes/x/deeper',
      '/n/containerd/state/netns/cni-1',
      '/n/kubelet/pods/a/volumes/x',
    ]);
  });

  it('re-loads a saved CA to issue more certificates that chain to it', async () => {
    const original = await CertificateAuthority.create('test CA', 5);
    const pem = await original.pem();
    const reloaded = await CertificateAuthority.fromPem(pem, 5);
    const leaf = await reloaded.issue({ subject: 'CN=node', server: true, ipAddresses: [NODE_IP] });
    assert.ok(new X509Certificate(leaf.cert).verify(new X509Certificate(pem.cert).publicKey));
    assert.ok(coversIpAddress(leaf.cert, NODE_IP));
    assert.ok(!coversIpAddress(leaf.cert, '127.0.0.1'));
  });
});
