// A multi-queue TUN's queues: detach or re-attach one (TUNSETQUEUE), and
// the device's steering program (TUNSETSTEERINGEBPF: its return value,
// modulo the number of attached queues, picks the queue a packet the kernel
// sends into the TUN is read from). Opening queues is tun.c's tunOpen.
#include "common.h"
#include <errno.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>

// tunSetQueue(fd, attach) -> 0 or negative errno. A detached queue keeps the
// device open (ioctls work on it) but takes no packets and is not counted.
static napi_value tun_set_queue(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, attach;
  if (!get_args(env, info, 2, argv) || !arg_i32(env, argv[0], &fd) || !arg_i32(env, argv[1], &attach)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
  return make_i32(env, ioctl(fd, TUNSETQUEUE, &ifr) < 0 ? -errno : 0);
}

// tunSetSteering(tunFd, progFd) -> 0 or negative errno; progFd -1 removes it.
// The device holds its own reference: the program's fd may be closed after.
static napi_value tun_set_steering(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t tun, prog;
  if (!get_args(env, info, 2, argv) || !arg_i32(env, argv[0], &tun) || !arg_i32(env, argv[1], &prog)) return NULL;
  return make_i32(env, ioctl(tun, TUNSETSTEERINGEBPF, &prog) < 0 ? -errno : 0);
}

void init_tunqueue(napi_env env, napi_value exports) {
  static const export_t list[] = {
    { "tunSetQueue", tun_set_queue },
    { "tunSetSteering", tun_set_steering },
  };
  export_all(env, exports, list, sizeof list / sizeof list[0]);
}
