// AF_PACKET sockets on one interface: whole Ethernet frames, a classic BPF
// filter attached before any frame is queued, ALLMULTI/PROMISC through
// PACKET_ADD_MEMBERSHIP (reference-counted by the kernel and dropped when the
// socket closes, so a crash never leaves the interface promiscuous).
// Per received frame: meta[i*4 + 0] ifindex, [1] sll_pkttype (0 host,
// 1 broadcast, 2 multicast, 3 other host, 4 outgoing), [2] ethertype, [3] 0.
#include "common.h"
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK 64

// Attaches struct sock_filter[] (8 bytes each, host order) to fd: 0 or
// negative errno (EINVAL for an empty, ragged or too long program).
static int attach_filter(int fd, uint8_t *prog, size_t len) {
  if (len == 0 || len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > BPF_MAXINSNS) return -EINVAL;
  struct sock_fprog fp = { (unsigned short)(len / sizeof(struct sock_filter)), (struct sock_filter *)prog };
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp) < 0 ? -errno : 0;
}

// packetOpen(ifindex, ethertype, filter: Uint8Array | undefined, flags) -> fd
// or negative errno. `filter` holds struct sock_filter[] (8 bytes each,
// host order). flags bit 1: ignore frames we send ourselves.
static napi_value packet_open(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t ifindex, ethertype, flags;
  if (!get_args(env, info, 4, argv) || !arg_i32(env, argv[0], &ifindex) || !arg_i32(env, argv[1], &ethertype) ||
      !arg_i32(env, argv[3], &flags)) return NULL;
  uint8_t *prog = NULL;
  size_t prog_len = 0;
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t != napi_undefined && t != napi_null && !arg_u8array(env, argv[2], &prog, &prog_len)) return NULL;
  // Protocol 0: nothing is queued until bind, so no frame slips in before
  // the filter is attached.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_i32(env, -errno);
  if (prog != NULL) {
    int rc = attach_filter(fd, prog, prog_len);
    if (rc < 0) {
      close(fd);
      return make_i32(env, rc);
    }
  }
  if (flags & 1) {
    int one = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) goto fail;
  }
  struct sockaddr_ll sll = { 0 };
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons((uint16_t)ethertype);
  sll.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) goto fail;
  track_fd(env, fd);
  return make_i32(env, fd);
fail:;
  int e = errno;
  close(fd);
  return make_i32(env, -e);
}

// packetSetFilter(fd, filter: Uint8Array) -> 0 or negative errno. Replaces
// the socket's classic BPF filter at once (SO_ATTACH_FILTER on a bound
// socket swaps the program atomically: every frame meets the old or the new
// one); frames already queued stay queued.
static napi_value packet_set_filter(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  uint8_t *prog;
  size_t prog_len;
  if (!get_args(env, info, 2, argv) || !arg_i32(env, argv[0], &fd) || !arg_u8array(env, argv[1], &prog, &prog_len)) return NULL;
  return make_i32(env, attach_filter(fd, prog, prog_len));
}

// packetMembership(fd, ifindex, type, add) -> 0 or negative errno.
// type: PACKET_MR_PROMISC (1) or PACKET_MR_ALLMULTI (2).
static napi_value packet_membership(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, ifindex, type, add;
  if (!get_args(env, info, 4, argv) || !arg_i32(env, argv[0], &fd) || !arg_i32(env, argv[1], &ifindex) ||
      !arg_i32(env, argv[2], &type) || !arg_i32(env, argv[3], &add)) return NULL;
  if (type != PACKET_MR_PROMISC && type != PACKET_MR_ALLMULTI) return make_i32(env, -EINVAL);
  struct packet_mreq mr = { 0 };
  mr.mr_ifindex = ifindex;
  mr.mr_type = (unsigned short)type;
  int rc = setsockopt(fd, SOL_PACKET, add ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, &mr, sizeof mr);
  return make_i32(env, rc < 0 ? -errno : 0);
}

// packetDrops(fd) -> frames the kernel dropped since the last call because
// the receive buffer was full (PACKET_STATISTICS tp_drops; reading resets
// it), or negative errno. Capped at INT32_MAX: a caller reads it far more
// often than 2^31 frames can arrive.
static napi_value packet_drops(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !arg_i32(env, argv[0], &fd)) return NULL;
  struct tpacket_stats st = { 0 };
  socklen_t len = sizeof st;
  if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0) return make_i32(env, -errno);
  return make_i32(env, st.tp_drops > INT32_MAX ? INT32_MAX : (int32_t)st.tp_drops);
}

// packetRecv(fd, buf, lens, slotSize, headroom, meta, max, counters) -> n or
// negative errno. Oversize frames are counted and dropped; the good ones
// stay packed at slots 0..n-1.
static napi_value packet_recv(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  ring_t r;
  int32_t fd, max, *meta;
  size_t mlen;
  double *c;
  if (!get_args(env, info, 8, argv) || !arg_i32(env, argv[0], &fd) || !arg_ring(env, argv + 1, &r) ||
      !arg_i32array(env, argv[5], &meta, &mlen) || !arg_i32(env, argv[6], &max) || !arg_counters(env, argv[7], &c)) return NULL;
  if (mlen < r.slots * META_STRIDE) {
    napi_throw_range_error(env, NULL, "sixgate addon: metadata array shorter than the ring");
    return NULL;
  }
  size_t limit = max < 0 ? 0 : (size_t)max;
  if (limit > r.slots) limit = r.slots;
  struct mmsghdr mm[CHUNK];
  struct iovec iov[CHUNK];
  struct sockaddr_ll from[CHUNK];
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
    }
    int got = recvmmsg(fd, mm, (unsigned)k, MSG_DONTWAIT, NULL);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || n > 0) break;
      return make_i32(env, -errno);
    }
    size_t w = n;
    for (size_t j = 0; j < (size_t)got; j++) {
      if (mm[j].msg_hdr.msg_flags & MSG_TRUNC) {
        c[C_RX_OVERSIZE] += 1;
        continue;
      }
      size_t len = mm[j].msg_len;
      if (w != n + j) memmove(slot_data(&r, w), slot_data(&r, n + j), len);
      r.lens[w] = (int32_t)len;
      int32_t *m = meta + w * META_STRIDE;
      m[0] = from[j].sll_ifindex;
      m[1] = from[j].sll_pkttype;
      m[2] = ntohs(from[j].sll_protocol);
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

// packetSend(fd, buf, lens, slotSize, headroom, start, count, counters) ->
// frames consumed from `start` or negative errno. Frames go out of the bound
// interface as they are (Ethernet header included).
static napi_value packet_send(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  ring_t r;
  int32_t fd, start, count;
  double *c;
  if (!get_args(env, info, 8, argv) || !arg_i32(env, argv[0], &fd) || !arg_ring(env, argv + 1, &r) ||
      !arg_i32(env, argv[5], &start) || !arg_i32(env, argv[6], &count) || !arg_counters(env, argv[7], &c)) return NULL;
  if (start < 0 || count < 0 || (size_t)start + (size_t)count > r.slots) return make_i32(env, -ERANGE);
  struct mmsghdr mm[CHUNK];
  struct iovec iov[CHUNK];
  size_t i = (size_t)start, end = (size_t)start + (size_t)count;
  while (i < end) {
    size_t k = end - i < CHUNK ? end - i : CHUNK;
    bool oversize = false;
    for (size_t j = 0; j < k; j++) {
      int32_t len = r.lens[i + j];
      if (len < ETH_HLEN || (size_t)len > slot_room(&r)) {
        k = j;
        oversize = true;
        break;
      }
      iov[j].iov_base = slot_data(&r, i + j);
      iov[j].iov_len = (size_t)len;
      memset(&mm[j].msg_hdr, 0, sizeof mm[j].msg_hdr);
      mm[j].msg_hdr.msg_iov = &iov[j];
      mm[j].msg_hdr.msg_iovlen = 1;
    }
    int sent = k == 0 ? 0 : sendmmsg(fd, mm, (unsigned)k, MSG_DONTWAIT);
    if (sent < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == ENOBUFS) break;
      if (e == EBADF || e == ENOTSOCK || e == ENETDOWN || e == ENXIO) {
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
    if ((size_t)sent < k) continue;
    if (oversize) {
      c[C_TX_REJECTED] += 1;
      c[C_TX_LAST_ERRNO] = EMSGSIZE;
      i++;
    }
  }
  return make_i32(env, (int32_t)(i - (size_t)start));
}

void init_packet(napi_env env, napi_value exports) {
  static const export_t list[] = {
    { "packetOpen", packet_open },
    { "packetSetFilter", packet_set_filter },
    { "packetMembership", packet_membership },
    { "packetDrops", packet_drops },
    { "packetRecv", packet_recv },
    { "packetSend", packet_send },
  };
  export_all(env, exports, list, sizeof list / sizeof list[0]);
}
