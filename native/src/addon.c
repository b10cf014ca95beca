// Entry point. Context-aware (NAPI_MODULE_INIT): no process-wide state, so
// the addon loads in the main thread and in any number of worker_threads.
#include "common.h"
#include <unistd.h>
#include <errno.h>

// close(2) for every kind of handle; the wrapper guarantees it is called once.
static napi_value fd_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !arg_i32(env, argv[0], &fd)) return NULL;
  if (fd < 0) return make_i32(env, -EBADF);
  // Linux always releases the descriptor, even when close reports EINTR.
  return make_i32(env, close(fd) == 0 || errno == EINTR ? 0 : -errno);
}

NAPI_MODULE_INIT() {
  static const export_t list[] = { { "close", fd_close } };
  export_all(env, exports, list, sizeof list / sizeof list[0]);
  init_poll(env, exports);
  init_netif(env, exports);
  init_tun(env, exports);
  init_icmp6(env, exports);
  init_packet(env, exports);
  return exports;
}
