// Entry point. Context-aware (NAPI_MODULE_INIT): no process-wide state, so
// the addon loads in the main thread and in any number of worker_threads.
#include "common.h"
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
  int *fds;
  size_t n, cap;
} owned_t;

static void close_owned(napi_env env, void *data, void *hint) {
  owned_t *o = data;
  for (size_t i = 0; i < o->n; i++) close(o->fds[i]);
  free(o->fds);
  free(o);
}

void track_fd(napi_env env, int fd) {
  owned_t *o = NULL;
  if (napi_get_instance_data(env, (void **)&o) != napi_ok || o == NULL) return;
  if (o->n == o->cap) {
    size_t cap = o->cap ? o->cap * 2 : 16;
    int *grown = realloc(o->fds, cap * sizeof *grown);
    if (grown == NULL) return;  // untracked: closed by its handle only
    o->fds = grown;
    o->cap = cap;
  }
  o->fds[o->n++] = fd;
}

void untrack_fd(napi_env env, int fd) {
  owned_t *o = NULL;
  if (napi_get_instance_data(env, (void **)&o) != napi_ok || o == NULL) return;
  for (size_t i = o->n; i-- > 0;) {
    if (o->fds[i] == fd) {
      o->fds[i] = o->fds[--o->n];
      return;
    }
  }
}

// close(2) for every kind of handle; the wrapper guarantees it is called once.
static napi_value fd_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !arg_i32(env, argv[0], &fd)) return NULL;
  if (fd < 0) return make_i32(env, -EBADF);
  untrack_fd(env, fd);
  // Linux always releases the descriptor, even when close reports EINTR.
  return make_i32(env, close(fd) == 0 || errno == EINTR ? 0 : -errno);
}

NAPI_MODULE_INIT() {
  owned_t *owned = calloc(1, sizeof *owned);
  if (owned != NULL) napi_set_instance_data(env, owned, close_owned, NULL);
  static const export_t list[] = { { "close", fd_close } };
  export_all(env, exports, list, sizeof list / sizeof list[0]);
  init_poll(env, exports);
  init_netif(env, exports);
  init_tun(env, exports);
  init_uring(env, exports);
  init_icmp6(env, exports);
  init_packet(env, exports);
  init_statefile(env, exports);
  init_ebpf(env, exports);
  init_tunqueue(env, exports);
  return exports;
}
