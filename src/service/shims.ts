// The host shims of macvlan and ipvlan (l2) networks, kept in step with the
// Docker feed (src/host/shim.ts says what a shim is and why).
//
// For every such network the host gets its shim on the network's parent;
// each running container's address is routed through it — after a DAD probe
// on the link when the address lies in the link's own prefix, since another
// host may hold it already (Docker assigns such addresses blindly): a
// conflict is one warning, an entry in the status and a counted metric, and
// the address is left alone rather than stolen. A subnet outside the link's
// prefixes is routed whole. Shims of networks that went, or that a past run
// left, are deleted; with --cleanup every shim goes on stop.
//
// Changes are coalesced: one sync in flight, at most one more queued, always
// from the latest snapshot. ipvlan l3 addresses, answered for by the NDP
// proxy on the parent, get the same probe before their first answer.
import type { Logger } from 'pino';
import type { ContainerAddress, DockerNetwork, FeedSnapshot } from '../docker/index.js';
import { applyShim, listShims, removeShim, shimMac, shimName, type ShimSpec } from '../host/shim.js';
import { interfaceGlobals } from '../host/interfaces.js';
import { parsePrefix, prefixWithin } from '../docker/classify.js';
import { formatIpv6 } from '../wire/address.js';
import { probeHolders, type ProbeOptions } from '../proxy/dad-probe.js';
import { uplinkExists, uplinkPrefixes } from './uplink.js';

export interface ShimConflict {
  readonly address: string;
  readonly container: string;
  readonly network: string;
  readonly parent: string;
  /** MACs other than the container's that answered for the address. */
  readonly holders: readonly string[];
}

export interface ShimStatus {
  readonly network: string;
  readonly shim: string;
  readonly parent: string;
  readonly routes: readonly string[];
  /** Why the shim is not there ('' when it is). */
  readonly problem: string;
}

export interface ShimManagerOptions {
  readonly log: Logger;
  /** The DAD probe (tests may shorten its wait). */
  readonly probe?: (options: ProbeOptions) => Promise<string[]>;
}

export class ShimManager {
  readonly #log: Logger;
  readonly #probe: (options: ProbeOptions) => Promise<string[]>;
  /** Probe verdicts by "address|container mac": holders other than the container ([] = free). */
  readonly #verdicts = new Map<string, string[]>();
  #status: ShimStatus[] = [];
  #conflicts: ShimConflict[] = [];
  /** Conflicts of addresses the NDP proxy was to answer for (ipvlan l3), by address. */
  readonly #answerConflicts = new Map<string, ShimConflict>();
  #syncing: Promise<void> | undefined;
  #again: FeedSnapshot | undefined;
  /** Conflicts found since start (the metric). */
  conflictsFound = 0;

  constructor(options: ShimManagerOptions) {
    this.#log = options.log;
    this.#probe = options.probe ?? probeHolders;
  }

  get status(): readonly ShimStatus[] {
    return this.#status;
  }

  get conflicts(): readonly ShimConflict[] {
    return [...this.#conflicts, ...this.#answerConflicts.values()];
  }

  /**
   * An ipvlan l3 container's address, answered for on the parent by the NDP
   * proxy: `claim` runs once a DAD probe on the parent found no other holder
   * (ipvlan l3 containers answer no NDP themselves, and the proxy's own
   * answers are outgoing frames the probe does not see, so any answer is
   * another host's); `stillWanted` is asked after the probe, since the
   * container may have gone meanwhile.
   */
  async claimAfterProbe(a: ContainerAddress, parent: string, stillWanted: () => boolean, claim: () => void): Promise<void> {
    let holders: string[];
    try {
      holders = await this.#probe({ ifname: parent, target: a.address });
    } catch (err) {
      this.#log.warn({ address: a.address, err: (err as Error).message }, `could not probe ${a.address} on ${parent}: answered without the check`);
      holders = [];
    }
    if (!stillWanted()) return;
    if (holders.length === 0) {
      this.#answerConflicts.delete(a.address);
      claim();
      return;
    }
    if (!this.#answerConflicts.has(a.address)) {
      this.conflictsFound++;
      this.#log.warn({ address: a.address, container: a.containerName, network: a.networkName, holders },
        `address ${a.address} of container ${a.containerName} (network ${a.networkName}) is already used on ${parent} by ${holders.join(', ')}: not answered for; give the container another address or free it on the LAN`);
    }
    this.#answerConflicts.set(a.address, { address: a.address, container: a.containerName, network: a.networkName, parent, holders });
  }

  /** An ipvlan l3 address withdrawn: its conflict, if any, goes with it. */
  released(address: string): void {
    this.#answerConflicts.delete(address);
  }

  /** Brings the shims in line with `snapshot` (coalesced); resolves when that is done. */
  sync(snapshot: FeedSnapshot): Promise<void> {
    if (this.#syncing !== undefined) {
      this.#again = snapshot;
      return this.#syncing;
    }
    this.#syncing = (async () => {
      let next: FeedSnapshot | undefined = snapshot;
      while (next !== undefined) {
        this.#again = undefined;
        try {
          await this.#apply(next);
        } catch (err) {
          this.#log.error({ err: (err as Error).message }, `macvlan/ipvlan shims: ${(err as Error).message}`);
        }
        next = this.#again;
      }
    })().finally(() => { this.#syncing = undefined; });
    return this.#syncing;
  }

  /** Waits for a sync in flight; with `cleanup`, deletes every shim. */
  async stop(cleanup: boolean): Promise<void> {
    this.#again = undefined;
    await this.#syncing;
    if (!cleanup) return;
    for (const name of (await listShims()).keys()) await removeShim(name);
  }

  async #apply(snapshot: FeedSnapshot): Promise<void> {
    const wanted = snapshot.networks.filter((n) => n.driver !== 'bridge' && n.subnets.some((s) => s.service === 'shim'));
    const status: ShimStatus[] = [];
    const conflicts: ShimConflict[] = [];
    const keep = new Set<string>();
    for (const net of wanted) {
      const name = shimName(net.id);
      keep.add(name);
      if (!uplinkExists(net.bridge)) {
        status.push({ network: net.name, shim: name, parent: net.bridge, routes: [], problem: `parent ${net.bridge} does not exist` });
        continue;
      }
      const addresses = snapshot.addresses.filter((a) => a.networkId === net.id && a.service === 'shim');
      const spec = await this.#spec(net, name, addresses, conflicts);
      await applyShim(spec);
      status.push({ network: net.name, shim: name, parent: net.bridge, routes: spec.routes, problem: '' });
    }
    for (const [name, network] of await listShims()) {
      if (keep.has(name)) continue;
      await removeShim(name);
      this.#log.info({ shim: name, network }, `shim ${name} of network ${network} removed (the network is gone)`);
    }
    for (const s of status) {
      const before = this.#status.find((b) => b.shim === s.shim);
      if (before === undefined || before.problem !== s.problem) {
        if (s.problem === '') this.#log.info({ shim: s.shim, network: s.network, parent: s.parent }, `shim ${s.shim} on ${s.parent}: the host reaches network ${s.network} through it`);
        else this.#log.warn({ shim: s.shim, network: s.network }, `network ${s.network}: no shim: ${s.problem}`);
      }
    }
    const live = new Set(snapshot.addresses.map((a) => verdictKey(a)));
    for (const key of this.#verdicts.keys()) if (!live.has(key)) this.#verdicts.delete(key);
    this.#status = status;
    this.#conflicts = conflicts;
  }

  /**
   * The shim's routes: a container address in the parent's own prefix is
   * routed only once a probe found no other holder; a subnet elsewhere is
   * routed whole. The shim must be up to probe through it, so it is made
   * (with the routes already known good) before the probes run.
   */
  async #spec(net: DockerNetwork, name: string, addresses: readonly ContainerAddress[], conflicts: ShimConflict[]): Promise<ShimSpec> {
    const parentPrefixes = (await uplinkPrefixes(net.bridge)).map((t) => parsePrefix(t)!);
    const hostAddresses = (await interfaceGlobals(net.bridge)).map((a) => formatIpv6(a.addr, 0));
    const base = { name, parent: net.bridge, driver: net.driver as 'macvlan' | 'ipvlan', mac: shimMac(net.id), network: net.name, hostAddresses };
    const routes: string[] = [];
    const onLink = (prefix: string): boolean => {
      const p = parsePrefix(prefix);
      return p !== undefined && parentPrefixes.some((l) => prefixWithin(p, l));
    };
    for (const s of net.subnets) if (s.service === 'shim' && !onLink(s.prefix)) routes.push(s.prefix);
    const toProbe = addresses.filter((a) => onLink(a.subnet) && !this.#verdicts.has(verdictKey(a)));
    if (toProbe.length > 0) {
      await applyShim({ ...base, routes: [...routes, ...this.#cleared(addresses, onLink)] });
      await Promise.all(toProbe.map(async (a) => {
        const holders = (await this.#probe({ ifname: name, target: a.address })).filter((mac) => mac !== a.mac);
        this.#verdicts.set(verdictKey(a), holders);
        if (holders.length > 0) {
          this.conflictsFound++;
          this.#log.warn({ address: a.address, container: a.containerName, network: net.name, holders },
            `address ${a.address} of container ${a.containerName} (network ${net.name}) is already used on ${net.bridge} by ${holders.join(', ')}: not routed; give the container another address (docker network connect --ip6) or free it on the LAN`);
        }
      }));
    }
    routes.push(...this.#cleared(addresses, onLink));
    for (const a of addresses) {
      const holders = this.#verdicts.get(verdictKey(a));
      if (holders !== undefined && holders.length > 0) {
        conflicts.push({ address: a.address, container: a.containerName, network: net.name, parent: net.bridge, holders });
      }
    }
    return { ...base, routes: [...new Set(routes)].sort() };
  }

  /** /128 routes of the on-link addresses a probe found free. */
  #cleared(addresses: readonly ContainerAddress[], onLink: (prefix: string) => boolean): string[] {
    return addresses.filter((a) => onLink(a.subnet) && this.#verdicts.get(verdictKey(a))?.length === 0).map((a) => `${a.address}/128`);
  }
}

function verdictKey(a: ContainerAddress): string {
  return `${a.address}|${a.mac ?? ''}`;
}
