// Fleet mode's rule for the NDP proxy: an address inside the fleet prefix
// is answered for only while it lies inside this host's own lease. A
// container network Docker numbered outside the lease (a mistake, or a
// lease that moved) is reported, not answered for: answering would pull
// another host's traffic to this one. Addresses outside the fleet prefix
// are not the fleet's business and pass through. Before any lease is held
// (first start with etcd away) nothing inside the fleet prefix is answered.
import type { NdpSink } from '../docker/index.js';
import type { Logger } from '../log.js';
import { addressInPrefix } from '../fleet/index.js';

export class LeaseGate implements NdpSink {
  readonly #inner: NdpSink;
  readonly #fleetPrefix: string;
  readonly #log: Logger;
  #lease: string | undefined;
  /** address -> uplink, for the fleet prefix's addresses: answered now, or withheld (outside the lease). */
  readonly #answered = new Map<string, string>();
  readonly #withheld = new Map<string, string>();

  constructor(inner: NdpSink, fleetPrefix: string, log: Logger) {
    this.#inner = inner;
    this.#fleetPrefix = fleetPrefix;
    this.#log = log;
  }

  /** Container addresses in the fleet prefix but outside this host's lease, not answered for. */
  get withheld(): string[] {
    return [...this.#withheld.keys()];
  }

  add(uplink: string, address: string): void {
    if (!addressInPrefix(address, this.#fleetPrefix)) {
      this.#inner.add(uplink, address);
    } else if (this.#lease !== undefined && addressInPrefix(address, this.#lease)) {
      this.#answered.set(address, uplink);
      this.#inner.add(uplink, address);
    } else {
      this.#withheld.set(address, uplink);
      this.#log.warn({ address, lease: this.#lease ?? null },
        'fleet: container address outside this host\'s lease: not answered for (give the network a subnet inside the lease)');
    }
  }

  remove(uplink: string, address: string): void {
    if (this.#withheld.delete(address)) return;
    this.#answered.delete(address);
    this.#inner.remove(uplink, address);
  }

  /** The lease held now (undefined: none, etcd said it is gone): addresses move between answered and withheld. */
  setLease(subprefix: string | undefined): void {
    this.#lease = subprefix;
    for (const [address, uplink] of [...this.#answered]) {
      if (subprefix !== undefined && addressInPrefix(address, subprefix)) continue;
      this.#answered.delete(address);
      this.#inner.remove(uplink, address);
      this.#withheld.set(address, uplink);
    }
    if (subprefix === undefined) return;
    for (const [address, uplink] of [...this.#withheld]) {
      this.#withheld.delete(address);
      this.add(uplink, address);
    }
  }
}
