// macvlan and ipvlan networks as the Engine API describes them.
//
// `macvlanLan` and `macvlanContainer` were recorded from Debian's docker.io
// 20.10 (API 1.41) in a test namespace:
//   docker network create -d macvlan --ipv6 --subnet 192.168.77.0/24 \
//     --subnet 2001:db8:1::/64 --gateway 2001:db8:1::fe --ip-range 2001:db8:1:0:1::/80 \
//     -o parent=eth0 --label com.example=x lan
// This kernel has no 802.1Q and no ipvlan, so Docker cannot create a VLAN
// parent or an ipvlan network here ("failed to create eth0.10 vlan link:
// operation not supported"); those are written in the same shape from the
// Engine API reference and Docker's macvlan/ipvlan driver documentation
// (options `parent`, `macvlan_mode`, `ipvlan_mode`; Docker creates the VLAN
// sub-interface `eth0.10` itself when the parent names one).
import type { ApiNetwork, ApiContainerInspect } from '../../src/docker/api-types.js';
import type { ClassifyContext } from '../../src/docker/classify.js';

export const linkCtx: ClassifyContext = { uplinks: [{ name: 'eth0', prefixes: ['2001:db8:1::/64'] }], dockerIp6tables: false };

export const macvlanLan: ApiNetwork = {
  Name: 'lan',
  Id: 'a378759aa5b732daa64d6b91f21a7923c53d1b75fa18de070856fc78183caa38',
  Driver: 'macvlan',
  EnableIPv6: true,
  // Recorded with IPRange and Gateway too, fields the model does not read.
  IPAM: { Config: [{ Subnet: '192.168.77.0/24' }, { Subnet: '2001:db8:1::/64' }] },
  Internal: false,
  Options: { parent: 'eth0' },
  Labels: { 'com.example': 'x' },
};

export const macvlanContainer: ApiContainerInspect = {
  Id: 'ff68e717635c8a0b2a3fc4b1e1c5e2b6d9d0f4a1b2c3d4e5f60718293a4b5c6d',
  Name: '/web',
  State: { Running: true },
  NetworkSettings: { Networks: { lan: {
    NetworkID: 'a378759aa5b732daa64d6b91f21a7923c53d1b75fa18de070856fc78183caa38',
    GlobalIPv6Address: '2001:db8:1:0:1::', GlobalIPv6PrefixLen: 64, MacAddress: '02:42:c0:a8:4d:02',
  } } },
  HostConfig: { PortBindings: {} },
};

function network(name: string, driver: string, options: Record<string, string>, subnet: string, extra: Partial<ApiNetwork> = {}): ApiNetwork {
  return {
    Name: name, Id: `${name}`.padEnd(64, 'e'), Driver: driver, EnableIPv6: true, Internal: false,
    IPAM: { Config: [{ Subnet: subnet }] }, Options: options, Labels: {}, ...extra,
  };
}

/** A VLAN parent Docker creates itself (`-o parent=eth0.10`), on a routed prefix of the host's. */
export const macvlanVlan = network('vlan10', 'macvlan', { parent: 'eth0.10' }, '2001:db8:10::/64');
export const macvlanPrivate = network('priv', 'macvlan', { parent: 'eth0', macvlan_mode: 'private' }, '2001:db8:1:0:2::/80');
export const macvlanOptedOut = network('optout', 'macvlan', { parent: 'eth0' }, '2001:db8:1:0:3::/80', { Labels: { 'sixgate.shim': 'off' } });
/** `docker network create -d macvlan --internal` without a parent: Docker makes a dummy one. */
export const macvlanInternal = network('dummy', 'macvlan', {}, '2001:db8:1:0:4::/80', { Internal: true });
export const ipvlanL2 = network('ipl2', 'ipvlan', { parent: 'eth0' }, '2001:db8:1:0:5::/80');
export const ipvlanL3OnLink = network('ipl3', 'ipvlan', { parent: 'eth0', ipvlan_mode: 'l3' }, '2001:db8:1:0:6::/80');
export const ipvlanL3Routed = network('ipl3r', 'ipvlan', { parent: 'eth0', ipvlan_mode: 'l3' }, '2001:db8:99::/64');
