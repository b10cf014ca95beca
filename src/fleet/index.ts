// Fleet mode's coordination through etcd: sub-prefix leases and the table
// of every host's lease.
export { fleetPlan, subprefixAt, isSubprefixOf, addressInPrefix, leaseKey, subprefixOfKey, type FleetPlan } from './subnets.js';
export { SubnetLease, parseLeaseValue, type LeaseValue, type SubnetLeaseOptions } from './lease.js';
export { FleetPeers } from './peers.js';
export { etcdClient, type EtcdEndpoints } from './client.js';
