// Per-network and per-container series for the counter registry
// (src/service/counters.ts): packets and bytes each way, sessions, drops by
// reason and NDP answers (for a network: its dedicated external addresses),
// labelled with the network and container names.
//
// The engines count by slot only, in preallocated typed arrays: the NAT per
// network index (Nat66.netCounters, netDrops) and per inside address (the
// connection table's host records: hostCnt, hosts.drops; read through
// datapath/workload-counts.ts, from one engine or summed over the packet
// workers), the NDP proxy per answered address (ExactAddresses.answered).
// The names are joined here, at report time: a network index names its
// network through the engine's configuration, and a container's address finds its host record and NDP
// entry through the engines' own lookups. A container's series exist while
// the Docker feed lists it and go with it, so the series stay bounded by
// what runs. Unlike the host-wide series, a drop reason appears with the
// first drop it counts (a container times every reason would be thousands
// of zeros).
//
// A host record outlives its container while it is idle (its counts wait
// until the space is needed), so an address another container takes over
// would inherit them: HostBaselines remembers the counts an address had
// when its container went, and reports the next container's from there.
import type { ContainerAddress } from '../docker/docker-model.js';
import { DROP_REASON_COUNT, DROP_REASON_NAMES } from '../nat/drop.js';
import { networkExternal } from '../nat/engine-config.js';
import { HostCounter, HOST_COUNTER_COUNT } from '../nat/hosts.js';
import type { NdpService } from '../proxy/ndp-service.js';
import { HOST_VALUES, type WorkloadCounts } from '../datapath/workload-counts.js';
import { parseIpv6 } from '../wire/address.js';
import { writeAddressWords } from '../wire/checksum.js';
import type { Metric } from './counters.js';

/** A container address as the series name it: its network and container. */
export type ContainerSlot = Pick<ContainerAddress, 'address' | 'networkName' | 'containerName' | 'containerId' | 'service'>;

const FIRST_REASON = 1;

const DIRECTIONS = [['out', HostCounter.PacketsOut, HostCounter.BytesOut], ['in', HostCounter.PacketsIn, HostCounter.BytesIn]] as const;

/**
 * Which container a host record's counts belong to. `report` is called for
 * every container address at each report: it returns the counts since the
 * container took the address. `sweep` then forgets the addresses whose
 * record went and marks the addresses no container holds any more.
 */
export class HostBaselines {
  readonly #seen = new Map<string, { owner: string; base: Float64Array; reported: boolean }>();

  /** The counts of `current` (the record's, HOST_VALUES) that belong to container `owner`. */
  report(address: string, owner: string, current: Float64Array): Float64Array {
    let entry = this.#seen.get(address);
    if (entry === undefined) {
      // First seen: whatever the record holds is this container's (a restart adopted it).
      entry = { owner, base: new Float64Array(HOST_VALUES), reported: true };
      this.#seen.set(address, entry);
    } else if (entry.owner !== owner) {
      // Another container holds the address since the last report (or, after a
      // release, since the base was taken): count from here.
      if (entry.owner !== '') entry.base.set(current);
      entry.owner = owner;
    }
    entry.reported = true;
    const out = new Float64Array(HOST_VALUES);
    for (let k = 0; k < HOST_VALUES; k++) {
      // A record reclaimed and taken again (or counts a restart did not keep) starts below its base.
      if (current[k]! < entry.base[k]!) entry.base[k] = 0;
      out[k] = current[k]! - entry.base[k]!;
    }
    return out;
  }

  /** After a report: `read` gives an unreported address's record counts into `out`, or false once the record is gone. */
  sweep(read: (address: string, out: Float64Array) => boolean): void {
    const current = new Float64Array(HOST_VALUES);
    for (const [address, entry] of this.#seen) {
      if (entry.reported) {
        entry.reported = false;
        continue;
      }
      if (!read(address, current)) {
        this.#seen.delete(address);
      } else if (entry.owner !== '') {
        entry.owner = '';
        entry.base.set(current);
      }
    }
  }

  /** Addresses remembered (a live record each): for tests. */
  get size(): number {
    return this.#seen.size;
  }
}

/** Solicitations the NDP proxy answered for the address at bytes[0..16) on all its uplinks; undefined when none answers for it. */
function ndpAnswers(proxy: NdpService, bytes: Uint8Array): number | undefined {
  let answers: number | undefined;
  proxy.refreshCounters();
  for (const id of proxy.interfaceIds.values()) {
    const e = proxy.engine.addresses.find(id, bytes, 0);
    if (e >= 0) answers = (answers ?? 0) + proxy.engine.addresses.answered[e]!;
  }
  return answers;
}

/** Answers for a network's external addresses (dedicated ones: a host address is the kernel's to answer). */
function networkNdpAnswers(nat: WorkloadCounts, net: number, proxy: NdpService): number | undefined {
  const bytes = new Uint8Array(16);
  let sum: number | undefined;
  for (let i = 0; i < nat.cfg.netExtCount[net]!; i++) {
    writeAddressWords(bytes, 0, nat.cfg.extWords, networkExternal(nat.cfg, net, i) * 4);
    const answers = ndpAnswers(proxy, bytes);
    if (answers !== undefined) sum = (sum ?? 0) + answers;
  }
  return sum;
}

/** The NAT66 engine's per-network series, named by its networks (Docker networks under `sixgate run`). */
export function networkMetrics(engine: () => WorkloadCounts | undefined, ndp: () => NdpService | undefined): Metric[] {
  const each = (read: (nat: WorkloadCounts, net: number, name: string) => void): void => {
    const nat = engine();
    // The workers' counts are laid out for the networks in force once every shard has published after a change.
    if (nat !== undefined && nat.netCounters.length === nat.cfg.netCount * HOST_COUNTER_COUNT) nat.cfg.netNames.forEach((name, net) => read(nat, net, name));
  };
  return [
    {
      name: 'sixgate_network_packets_total', help: 'Packets a NAT66 network sent (out) and received (in) through the NAT.',
      kind: 'counter', labels: ['network', 'direction'],
      collect: (emit) => each((nat, net, name) => {
        for (const [dir, packets] of DIRECTIONS) emit([name, dir], nat.netCounters[net * HOST_COUNTER_COUNT + packets]!);
      }),
    },
    {
      name: 'sixgate_network_bytes_total', help: 'Bytes of the packets a NAT66 network sent (out) and received (in) through the NAT.',
      kind: 'counter', labels: ['network', 'direction'],
      collect: (emit) => each((nat, net, name) => {
        for (const [dir, , bytes] of DIRECTIONS) emit([name, dir], nat.netCounters[net * HOST_COUNTER_COUNT + bytes]!);
      }),
    },
    {
      name: 'sixgate_network_sessions', help: "NAT66 sessions on a network's external addresses.",
      kind: 'gauge', labels: ['network'],
      collect: (emit) => each((nat, net, name) => emit([name], nat.networkSessions(net))),
    },
    {
      name: 'sixgate_network_drops_total', help: 'Packets of a NAT66 network the engine dropped, by reason (from it, or to its external addresses; reasons as sixgate_nat_drops_total).',
      kind: 'counter', labels: ['network', 'reason'],
      collect: (emit) => each((nat, net, name) => {
        for (let r = FIRST_REASON; r < DROP_REASON_COUNT; r++) {
          const v = nat.netDrops[net * DROP_REASON_COUNT + r]!;
          if (v !== 0) emit([name, DROP_REASON_NAMES[r]!], v);
        }
      }),
    },
    {
      name: 'sixgate_network_ndp_answers_total', help: "Neighbor Solicitations the NDP proxy answered for a NAT66 network's dedicated external addresses.",
      kind: 'counter', labels: ['network'],
      collect: (emit) => {
        const proxy = ndp();
        if (proxy === undefined) return;
        each((nat, net, name) => {
          const answers = networkNdpAnswers(nat, net, proxy);
          if (answers !== undefined) emit([name], answers);
        });
      },
    },
  ];
}

interface ContainerValues {
  readonly labels: readonly [network: string, container: string, containerId: string];
  /** NAT66: counts since the container took the address (HOST_VALUES) and its sessions. */
  nat?: { values: Float64Array; sessions: number };
  /** NDP: solicitations answered for the address, on every uplink. */
  ndpAnswers?: number;
}

/**
 * The per-container series of `sixgate run`: one set per container and
 * network, from the container addresses the Docker feed lists (`slots`).
 * A container on a NAT66 network has packets, bytes, sessions and drops
 * (its outbound packets dropped); one on a proxied (ndp) network has the
 * NDP answers for its address.
 */
export function containerMetrics(slots: () => readonly ContainerSlot[], engine: () => WorkloadCounts | undefined,
  ndp: () => NdpService | undefined): Metric[] {
  const baselines = new HostBaselines();
  // Each metric reads afresh (a few lookups per container); a repeated report changes no baseline.
  const values = (): ContainerValues[] => {
    const nat = engine();
    const proxy = ndp();
    const record = new Float64Array(HOST_VALUES);
    const out: ContainerValues[] = [];
    nat?.watch(slots().filter((s) => s.service === 'nat66').map((s) => s.address));
    for (const s of slots()) {
      const v: ContainerValues = { labels: [s.networkName, s.containerName, s.containerId.slice(0, 12)] };
      if (s.service === 'nat66' && nat !== undefined) {
        const sessions = nat.readHost(s.address, record);
        v.nat = { values: baselines.report(s.address, s.containerId, record), sessions: Math.max(sessions, 0) };
      } else if (s.service === 'ndp' && proxy !== undefined) {
        v.ndpAnswers = ndpAnswers(proxy, parseIpv6(s.address)) ?? 0;
      }
      out.push(v);
    }
    if (nat !== undefined) baselines.sweep((address, into) => nat.readHost(address, into) >= 0);
    return out;
  };
  const labels = ['network', 'container', 'container_id'] as const;
  return [
    {
      name: 'sixgate_container_packets_total', help: 'Packets a container on a NAT66 network sent (out) and received (in) through the NAT.',
      kind: 'counter', labels: [...labels, 'direction'],
      collect: (emit) => {
        for (const c of values()) if (c.nat !== undefined) for (const [dir, packets] of DIRECTIONS) emit([...c.labels, dir], c.nat.values[packets]!);
      },
    },
    {
      name: 'sixgate_container_bytes_total', help: 'Bytes of the packets a container on a NAT66 network sent (out) and received (in) through the NAT.',
      kind: 'counter', labels: [...labels, 'direction'],
      collect: (emit) => {
        for (const c of values()) if (c.nat !== undefined) for (const [dir, , bytes] of DIRECTIONS) emit([...c.labels, dir], c.nat.values[bytes]!);
      },
    },
    {
      name: 'sixgate_container_sessions', help: "NAT66 sessions of a container's address.",
      kind: 'gauge', labels,
      collect: (emit) => {
        for (const c of values()) if (c.nat !== undefined) emit(c.labels, c.nat.sessions);
      },
    },
    {
      name: 'sixgate_container_drops_total', help: "A container's outbound packets the NAT66 engine dropped, by reason (reasons as sixgate_nat_drops_total).",
      kind: 'counter', labels: [...labels, 'reason'],
      collect: (emit) => {
        for (const c of values()) {
          if (c.nat === undefined) continue;
          for (let r = FIRST_REASON; r < DROP_REASON_COUNT; r++) if (c.nat.values[4 + r] !== 0) emit([...c.labels, DROP_REASON_NAMES[r]!], c.nat.values[4 + r]!);
        }
      },
    },
    {
      name: 'sixgate_container_ndp_answers_total', help: "Neighbor Solicitations the NDP proxy answered for a container's address (a proxied network).",
      kind: 'counter', labels,
      collect: (emit) => {
        for (const c of values()) if (c.ndpAnswers !== undefined) emit(c.labels, c.ndpAnswers);
      },
    },
  ];
}
