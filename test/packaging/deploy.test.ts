// The fleet deployment files in deploy/, checked offline: they parse, hold
// the keys Swarm and Kubernetes require for a per-node host-network
// daemon, and every SIXGATE_* variable they set is a declared option whose
// value sixgate accepts (the same parser `sixgate run` uses).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../support/paths.js';
import { envOverrides } from '../../src/config/load.js';
import { OPTIONS } from '../../src/config/options.js';

const FLEET_VARIABLES = ['SIXGATE_FLEET', 'SIXGATE_FLEET_PREFIX', 'SIXGATE_FLEET_SIZE', 'SIXGATE_FLEET_HOST'];

/** A manifest as a loosely typed tree: the assertions below are its schema. */
type Tree = any;

function readYaml(file: string): Tree {
  return parse(readFileSync(join(repoRoot, 'deploy', file), 'utf8')) as Tree;
}

function checkEnvironment(env: Record<string, string>, where: string): void {
  const declared = new Set(OPTIONS.map((o) => o.env));
  for (const name of Object.keys(env)) assert.ok(declared.has(name), `${where}: ${name} is not a sixgate option`);
  for (const name of FLEET_VARIABLES) assert.ok(env[name] !== undefined, `${where}: sets ${name}`);
  const parsed = envOverrides(env);
  assert.equal(parsed.fleetPrefix, env.SIXGATE_FLEET_PREFIX);
}

test('deploy/swarm-stack.yml: a global service on the host network with the capabilities and fleet options sixgate needs', () => {
  const stack = readYaml('swarm-stack.yml');
  assert.match(String(stack.version), /^3\.(8|9)$/, 'compose file version 3.8+ (cap_add in stacks)');
  const svc = stack.services.sixgate;
  assert.ok(svc, 'a service named sixgate');
  assert.equal(typeof svc.image, 'string');
  assert.equal(svc.deploy.mode, 'global', 'one task per node');
  const [net] = svc.networks as string[];
  assert.equal(stack.networks[net!].external, true);
  assert.equal(stack.networks[net!].name, 'host', 'the host\'s network (the NDP proxy and routes are the host\'s)');
  assert.deepEqual([...svc.cap_add].sort(), ['NET_ADMIN', 'NET_RAW']);
  assert.ok((svc.volumes as string[]).some((v) => v.startsWith('/var/run/docker.sock:/var/run/docker.sock')), 'the Docker socket');
  assert.ok((svc.volumes as string[]).some((v) => v.startsWith('/dev/net/tun:')), 'the TUN device');
  checkEnvironment(svc.environment as Record<string, string>, 'swarm-stack.yml');
});

test('deploy/daemonset.yaml: a DaemonSet on the host network whose selector matches its pods, mounts resolve, fleet options valid', () => {
  const ds = readYaml('daemonset.yaml');
  assert.equal(ds.apiVersion, 'apps/v1');
  assert.equal(ds.kind, 'DaemonSet');
  assert.equal(typeof ds.metadata.name, 'string');
  const labels = ds.spec.template.metadata.labels as Record<string, string>;
  for (const [k, v] of Object.entries(ds.spec.selector.matchLabels as Record<string, string>)) assert.equal(labels[k], v, `selector ${k}`);
  const pod = ds.spec.template.spec;
  assert.equal(pod.hostNetwork, true);
  const [c] = pod.containers as Tree[];
  assert.equal(typeof c!.name, 'string');
  assert.equal(typeof c!.image, 'string');
  assert.deepEqual([...c!.securityContext.capabilities.add].sort(), ['NET_ADMIN', 'NET_RAW']);
  const volumes = new Set((pod.volumes as Array<{ name: string }>).map((v) => v.name));
  for (const m of c!.volumeMounts as Array<{ name: string; mountPath: string }>) assert.ok(volumes.has(m.name), `volume ${m.name} declared`);
  assert.ok((c!.volumeMounts as Array<{ mountPath: string }>).some((m) => m.mountPath === '/var/run/docker.sock'));
  const env: Record<string, string> = {};
  for (const e of c!.env as Array<{ name: string; value?: string; valueFrom?: unknown }>) {
    assert.ok(e.value !== undefined || e.valueFrom !== undefined, `${e.name} has a value`);
    env[e.name] = e.value ?? 'from-the-downward-api';
  }
  checkEnvironment(env, 'daemonset.yaml');
});
