// Interface configuration by ioctl on a throwaway datagram socket (no exec
// of `ip`), and per-thread network namespace switching.
#include "common.h"
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

// Any datagram socket can carry SIOCSIF*; AF_INET6 first, AF_INET when the
// namespace has IPv6 disabled at boot.
static int ctl_socket(void) {
  int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  return s;
}

static int ifreq_ioctl(const char *name, unsigned long req, struct ifreq *ifr) {
  int s = ctl_socket();
  if (s < 0) return -errno;
  strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
  int rc = ioctl(s, req, ifr) < 0 ? -errno : 0;
  close(s);
  return rc;
}

static bool arg_ifname(napi_env env, napi_value v, char *out) {
  return arg_string(env, v, out, IFNAMSIZ);
}

// ifIndex(name) -> index or negative errno (ENODEV).
static napi_value if_index(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char name[IFNAMSIZ];
  if (!get_args(env, info, 1, argv) || !arg_ifname(env, argv[0], name)) return NULL;
  unsigned idx = if_nametoindex(name);
  return make_i32(env, idx == 0 ? -errno : (int32_t)idx);
}

// ifSetMtu(name, mtu) / ifSetTxqlen(name, qlen) -> 0 or negative errno.
static napi_value if_set_mtu(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char name[IFNAMSIZ];
  int32_t v;
  if (!get_args(env, info, 2, argv) || !arg_ifname(env, argv[0], name) || !arg_i32(env, argv[1], &v)) return NULL;
  struct ifreq ifr = { 0 };
  ifr.ifr_mtu = v;
  return make_i32(env, ifreq_ioctl(name, SIOCSIFMTU, &ifr));
}

static napi_value if_set_txqlen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char name[IFNAMSIZ];
  int32_t v;
  if (!get_args(env, info, 2, argv) || !arg_ifname(env, argv[0], name) || !arg_i32(env, argv[1], &v)) return NULL;
  struct ifreq ifr = { 0 };
  ifr.ifr_qlen = v;
  return make_i32(env, ifreq_ioctl(name, SIOCSIFTXQLEN, &ifr));
}

// ifSetUp(name, up) -> 0 or negative errno; read-modify-write of the flags.
static napi_value if_set_up(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char name[IFNAMSIZ];
  int32_t up;
  if (!get_args(env, info, 2, argv) || !arg_ifname(env, argv[0], name) || !arg_i32(env, argv[1], &up)) return NULL;
  struct ifreq ifr = { 0 };
  int rc = ifreq_ioctl(name, SIOCGIFFLAGS, &ifr);
  if (rc < 0) return make_i32(env, rc);
  if (up) ifr.ifr_flags |= IFF_UP;
  else ifr.ifr_flags &= ~IFF_UP;
  return make_i32(env, ifreq_ioctl(name, SIOCSIFFLAGS, &ifr));
}

// ifFlags(name) -> the IFF_* flags or negative errno.
static napi_value if_flags(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char name[IFNAMSIZ];
  if (!get_args(env, info, 1, argv) || !arg_ifname(env, argv[0], name)) return NULL;
  struct ifreq ifr = { 0 };
  int rc = ifreq_ioctl(name, SIOCGIFFLAGS, &ifr);
  return make_i32(env, rc < 0 ? rc : (uint16_t)ifr.ifr_flags);
}

// ifHwaddr(name, out: Uint8Array(>=6)) -> address length or negative errno.
static napi_value if_hwaddr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char name[IFNAMSIZ];
  uint8_t *out;
  size_t len;
  if (!get_args(env, info, 2, argv) || !arg_ifname(env, argv[0], name) || !arg_u8array(env, argv[1], &out, &len)) return NULL;
  if (len < 6) return make_i32(env, -EINVAL);
  struct ifreq ifr = { 0 };
  int rc = ifreq_ioctl(name, SIOCGIFHWADDR, &ifr);
  if (rc < 0) return make_i32(env, rc);
  memcpy(out, ifr.ifr_hwaddr.sa_data, 6);
  return make_i32(env, 6);
}

// netnsEnter(path) -> fd of the thread's previous namespace, or negative
// errno. setns() moves only the calling thread: sockets and TUNs created
// afterwards belong to the new namespace and stay there after netnsRestore.
static napi_value netns_enter(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char path[4096];
  if (!get_args(env, info, 1, argv) || !arg_string(env, argv[0], path, sizeof path)) return NULL;
  int prev = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (prev < 0) return make_i32(env, -errno);
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int e = errno;
    close(prev);
    return make_i32(env, -e);
  }
  int rc = setns(target, CLONE_NEWNET);
  int e = errno;
  close(target);
  if (rc < 0) {
    close(prev);
    return make_i32(env, -e);
  }
  return make_i32(env, prev);
}

// netnsRestore(fd) -> 0 or negative errno; closes fd either way.
static napi_value netns_restore(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !arg_i32(env, argv[0], &fd)) return NULL;
  int rc = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
  close(fd);
  return make_i32(env, rc);
}

void init_netif(napi_env env, napi_value exports) {
  static const export_t list[] = {
    { "ifIndex", if_index },
    { "ifSetMtu", if_set_mtu },
    { "ifSetTxqlen", if_set_txqlen },
    { "ifSetUp", if_set_up },
    { "ifFlags", if_flags },
    { "ifHwaddr", if_hwaddr },
    { "netnsEnter", netns_enter },
    { "netnsRestore", netns_restore },
  };
  export_all(env, exports, list, sizeof list / sizeof list[0]);
}
