// Raw ICMPv6 sockets with the metadata an NDP proxy needs per packet: hop
// limit (RFC 4861 wants 255), ingress ifindex, source and destination
// address. recvmmsg/sendmmsg in chunks; metadata goes to caller-owned arrays:
//   meta[i*4 + 0] hop limit (-1 unknown)   addr[i*32 + 0..15]  source
//   meta[i*4 + 1] ifindex                  addr[i*32 + 16..31] destination
//   meta[i*4 + 2] source scope id
//   meta[i*4 + 3] 0 (reserved)
// For sending the same layout is read: hop limit (-1: socket default),
// outgoing ifindex, source (:: lets the kernel choose), destination.
#include "common.h"
#include <errno.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK 64
#define CMSG_ROOM (CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo)))

static int set_int(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

// icmp6Open(ifname) -> fd or negative errno. Bound to `ifname` when it is
// not empty; hop limits default to 255 so NDP replies are valid; our own
// multicast is not looped back to us.
static napi_value icmp6_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char ifname[IFNAMSIZ];
  if (!get_args(env, info, 1, argv) || !arg_string(env, argv[0], ifname, sizeof ifname)) return NULL;
  int fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd < 0) return make_i32(env, -errno);
  int rc = 0;
  if (ifname[0] != '\0' && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0) rc = -errno;
  if (rc == 0) rc = set_int(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
  if (rc == 0) rc = set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
  if (rc == 0) rc = set_int(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 255);
  if (rc == 0) rc = set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255);
  if (rc == 0) rc = set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
  if (rc < 0) {
    close(fd);
    return make_i32(env, rc);
  }
  track_fd(env, fd);
  return make_i32(env, fd);
}

// icmp6SetFilter(fd, pass: Uint8Array(32)) -> 0 or negative errno. `pass` is
// a bitmap of ICMPv6 types to deliver (bit t%8 of byte t/8); Linux's own
// ICMP6_FILTER bitmap has the opposite sense, so it is inverted here.
static napi_value icmp6_set_filter(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  uint8_t *pass;
  size_t len;
  if (!get_args(env, info, 2, argv) || !arg_i32(env, argv[0], &fd) || !arg_u8array(env, argv[1], &pass, &len)) return NULL;
  if (len != 32) return make_i32(env, -EINVAL);
  struct icmp6_filter f;
  uint8_t *bits = (uint8_t *)&f;
  for (size_t i = 0; i < 32; i++) bits[i] = (uint8_t)~pass[i];
  return make_i32(env, setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof f) < 0 ? -errno : 0);
}

// icmp6Membership(fd, join, group: Uint8Array(16), ifindex) -> 0 or negative errno.
static napi_value icmp6_membership(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, join, ifindex;
  uint8_t *group;
  size_t len;
  if (!get_args(env, info, 4, argv) || !arg_i32(env, argv[0], &fd) || !arg_i32(env, argv[1], &join) ||
      !arg_u8array(env, argv[2], &group, &len) || !arg_i32(env, argv[3], &ifindex)) return NULL;
  if (len != 16) return make_i32(env, -EINVAL);
  struct ipv6_mreq m;
  memcpy(&m.ipv6mr_multiaddr, group, 16);
  m.ipv6mr_interface = (unsigned)ifindex;
  int rc = setsockopt(fd, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &m, sizeof m);
  return make_i32(env, rc < 0 ? -errno : 0);
}

// setsockoptInt(fd, level, name, value) -> 0 or negative errno; for the
// plain integer options the wrapper exposes by name.
static napi_value setsockopt_int(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, level, name, value;
  if (!get_args(env, info, 4, argv) || !arg_i32(env, argv[0], &fd) || !arg_i32(env, argv[1], &level) ||
      !arg_i32(env, argv[2], &name) || !arg_i32(env, argv[3], &value)) return NULL;
  return make_i32(env, set_int(fd, level, name, value));
}

static bool arg_meta(napi_env env, napi_value *argv, const ring_t *r, int32_t **meta, uint8_t **addr) {
  size_t mlen, alen;
  if (!arg_i32array(env, argv[0], meta, &mlen) || !arg_u8array(env, argv[1], addr, &alen)) return false;
  if (mlen < r->slots * META_STRIDE || alen < r->slots * ADDR_STRIDE) {
    napi_throw_range_error(env, NULL, "sixgate addon: metadata arrays shorter than the ring");
    return false;
  }
  return true;
}

static void read_cmsgs(struct msghdr *h, int32_t *meta, uint8_t *addr) {
  meta[0] = -1;
  meta[1] = 0;
  memset(addr + 16, 0, 16);
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm != NULL; cm = CMSG_NXTHDR(h, cm)) {
    if (cm->cmsg_level != IPPROTO_IPV6) continue;
    if (cm->cmsg_type == IPV6_HOPLIMIT) {
      int v;
      memcpy(&v, CMSG_DATA(cm), sizeof v);
      meta[0] = v;
    } else if (cm->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(cm), sizeof pi);
      meta[1] = (int32_t)pi.ipi6_ifindex;
      memcpy(addr + 16, &pi.ipi6_addr, 16);
    }
  }
}

// icmp6Recv(fd, buf, lens, slotSize, headroom, meta, addr, max, counters)
// -> n or negative errno. Each slot holds the ICMPv6 message (the kernel
// strips the IPv6 header). Messages longer than a slot are counted and
// dropped; the good ones stay packed at slots 0..n-1.
static napi_value icmp6_recv(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  ring_t r;
  int32_t fd, max, *meta;
  uint8_t *addr;
  double *c;
  if (!get_args(env, info, 9, argv) || !arg_i32(env, argv[0], &fd) || !arg_ring(env, argv + 1, &r) ||
      !arg_meta(env, argv + 5, &r, &meta, &addr) || !arg_i32(env, argv[7], &max) || !arg_counters(env, argv[8], &c)) return NULL;
  size_t limit = max < 0 ? 0 : (size_t)max;
  if (limit > r.slots) limit = r.slots;
  struct mmsghdr mm[CHUNK];
  struct iovec iov[CHUNK];
  struct sockaddr_in6 from[CHUNK];
  union { struct cmsghdr align; uint8_t b[CMSG_ROOM]; } cbuf[CHUNK];
  size_t n = 0;
  while (n < limit) {
    size_t k = limit - n < CHUNK ? limit - n : CHUNK;
    for (size_t j = 0; j < k; j++) {
      iov[j].iov_base = slot_data(&r, n + j);
      iov[j].iov_len = slot_room(&r);
      memset(&mm[j].msg_hdr, 0, sizeof mm[j].msg_hdr);
      mm[j].msg_hdr.msg_name = &from[j];
      mm[j].msg_hdr.msg_namelen = sizeof from[j];
      mm[j].msg_hdr.msg_iov = &iov[j];
      mm[j].msg_hdr.msg_iovlen = 1;
      mm[j].msg_hdr.msg_control = cbuf[j].b;
      mm[j].msg_hdr.msg_controllen = sizeof cbuf[j].b;
    }
    int got = recvmmsg(fd, mm, (unsigned)k, MSG_DONTWAIT, NULL);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || n > 0) break;
      return make_i32(env, -errno);
    }
    size_t w = n;
    for (size_t j = 0; j < (size_t)got; j++) {
      if (mm[j].msg_hdr.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        c[C_RX_OVERSIZE] += 1;
        continue;
      }
      size_t len = mm[j].msg_len;
      if (w != n + j) memmove(slot_data(&r, w), slot_data(&r, n + j), len);
      r.lens[w] = (int32_t)len;
      int32_t *m = meta + w * META_STRIDE;
      uint8_t *a = addr + w * ADDR_STRIDE;
      read_cmsgs(&mm[j].msg_hdr, m, a);
      memcpy(a, &from[j].sin6_addr, 16);
      m[2] = (int32_t)from[j].sin6_scope_id;
      m[3] = 0;
      c[C_RX_PACKETS] += 1;
      c[C_RX_BYTES] += (double)len;
      w++;
    }
    n = w;
    if ((size_t)got < k) break;
  }
  return make_i32(env, (int32_t)n);
}

// icmp6Send(fd, buf, lens, slotSize, headroom, meta, addr, start, count,
// counters) -> messages consumed from `start` or negative errno. The kernel
// fills in the ICMPv6 checksum. Stops at EAGAIN/ENOBUFS; a message the
// kernel refuses for itself (no route, bad source...) is counted and skipped.
static napi_value icmp6_send(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  ring_t r;
  int32_t fd, start, count, *meta;
  uint8_t *addr;
  double *c;
  if (!get_args(env, info, 10, argv) || !arg_i32(env, argv[0], &fd) || !arg_ring(env, argv + 1, &r) ||
      !arg_meta(env, argv + 5, &r, &meta, &addr) || !arg_i32(env, argv[7], &start) || !arg_i32(env, argv[8], &count) ||
      !arg_counters(env, argv[9], &c)) return NULL;
  if (start < 0 || count < 0 || (size_t)start + (size_t)count > r.slots) return make_i32(env, -ERANGE);
  struct mmsghdr mm[CHUNK];
  struct iovec iov[CHUNK];
  struct sockaddr_in6 to[CHUNK];
  union { struct cmsghdr align; uint8_t b[CMSG_ROOM]; } cbuf[CHUNK];
  size_t i = (size_t)start, end = (size_t)start + (size_t)count;
  while (i < end) {
    size_t k = end - i < CHUNK ? end - i : CHUNK;
    bool oversize = false;
    for (size_t j = 0; j < k; j++) {
      size_t s = i + j;
      const int32_t *m = meta + s * META_STRIDE;
      const uint8_t *a = addr + s * ADDR_STRIDE;
      int32_t len = r.lens[s];
      if (len < 0 || (size_t)len > slot_room(&r)) len = -1;  // refused below by EMSGSIZE
      memset(&to[j], 0, sizeof to[j]);
      to[j].sin6_family = AF_INET6;
      memcpy(&to[j].sin6_addr, a + 16, 16);
      to[j].sin6_scope_id = (uint32_t)m[1];
      iov[j].iov_base = slot_data(&r, s);
      iov[j].iov_len = len < 0 ? 0 : (size_t)len;
      memset(&mm[j].msg_hdr, 0, sizeof mm[j].msg_hdr);
      mm[j].msg_hdr.msg_name = &to[j];
      mm[j].msg_hdr.msg_namelen = sizeof to[j];
      mm[j].msg_hdr.msg_iov = &iov[j];
      mm[j].msg_hdr.msg_iovlen = 1;
      memset(cbuf[j].b, 0, sizeof cbuf[j].b);
      mm[j].msg_hdr.msg_control = cbuf[j].b;
      mm[j].msg_hdr.msg_controllen = sizeof cbuf[j].b;
      struct cmsghdr *cm = CMSG_FIRSTHDR(&mm[j].msg_hdr);
      struct in6_pktinfo pi;
      memcpy(&pi.ipi6_addr, a, 16);
      pi.ipi6_ifindex = (unsigned)m[1];
      cm->cmsg_level = IPPROTO_IPV6;
      cm->cmsg_type = IPV6_PKTINFO;
      cm->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(cm), &pi, sizeof pi);
      size_t used = CMSG_SPACE(sizeof pi);
      if (m[0] >= 0 && m[0] <= 255) {
        cm = CMSG_NXTHDR(&mm[j].msg_hdr, cm);
        int hl = m[0];
        cm->cmsg_level = IPPROTO_IPV6;
        cm->cmsg_type = IPV6_HOPLIMIT;
        cm->cmsg_len = CMSG_LEN(sizeof hl);
        memcpy(CMSG_DATA(cm), &hl, sizeof hl);
        used += CMSG_SPACE(sizeof hl);
      }
      mm[j].msg_hdr.msg_controllen = used;
      if (len < 0) {
        // Sending an empty message would hide the mistake; refuse it here.
        k = j;
        oversize = true;
        break;
      }
    }
    int sent = k == 0 ? 0 : sendmmsg(fd, mm, (unsigned)k, MSG_DONTWAIT);
    if (sent < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == ENOBUFS) break;
      if (e == EBADF || e == ENOTSOCK) {
        if (i > (size_t)start) break;
        return make_i32(env, -e);
      }
      c[C_TX_REJECTED] += 1;
      c[C_TX_LAST_ERRNO] = e;
      i++;
      continue;
    }
    for (int j = 0; j < sent; j++) {
      c[C_TX_PACKETS] += 1;
      c[C_TX_BYTES] += (double)r.lens[i + (size_t)j];
    }
    i += (size_t)sent;
    if ((size_t)sent < k) continue;  // the next sendmmsg reports the failing one
    if (oversize) {
      c[C_TX_REJECTED] += 1;
      c[C_TX_LAST_ERRNO] = EMSGSIZE;
      i++;
    }
  }
  return make_i32(env, (int32_t)(i - (size_t)start));
}

void init_icmp6(napi_env env, napi_value exports) {
  static const export_t list[] = {
    { "icmp6Open", icmp6_open },
    { "icmp6SetFilter", icmp6_set_filter },
    { "icmp6Membership", icmp6_membership },
    { "setsockoptInt", setsockopt_int },
    { "icmp6Recv", icmp6_recv },
    { "icmp6Send", icmp6_send },
  };
  export_all(env, exports, list, sizeof list / sizeof list[0]);
}
