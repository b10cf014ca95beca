// The I/O layer: TUN, raw ICMPv6 and AF_PACKET sockets over caller-owned
// rings, readiness on the calling thread's loop, interface settings.
export { addon } from './addon.js';
export { errnoName, ioError } from './errno.js';
export { PacketRing, Counter, COUNTER_COUNT, META_STRIDE, ADDR_STRIDE, newCounters, monotonicMs, type RingOptions } from './ring.js';
export { Readiness, READABLE, WRITABLE } from './poll.js';
export {
  ifIndex, setMtu, setTxqueuelen, setUp, ifFlags, hwaddr, enterNetns, withNetns, checkIfname,
  IFF_UP, IFF_PROMISC, IFF_ALLMULTI,
} from './netif.js';
export {
  Tun, type TunOptions, VNET_HDR_LEN, VnetF, VnetFlag, GsoType, Offload,
  vnetFlags, vnetGsoType, vnetHdrLen, vnetGsoSize, vnetCsumStart, vnetCsumOffset, vnetWrite, vnetClear,
} from './tun.js';
export { Icmp6Socket, Icmp6Meta, Icmp6Addr, type Icmp6Options } from './icmp6.js';
export { PacketSocket, PacketMeta, PktType, ETH_P_ALL, ETH_P_IPV6, type PacketOptions } from './packet.js';
export { icmp6Filter, Icmp6Type, type Icmp6FilterOptions } from './bpf.js';
export { StateFile, bootId } from './statefile.js';
