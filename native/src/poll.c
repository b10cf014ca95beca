// Readiness: a uv_poll on the calling thread's own loop (napi_get_uv_event_loop),
// so a worker_thread gets its wake-ups on its own thread. One JS call per
// wake-up; the callback then drains the fd in batches.
//
// Lifetime: the struct is shared by the JS external and the uv handle and is
// freed when both are gone (refs). Closing is asynchronous (uv_close), and an
// async cleanup hook closes a still-active poll when its thread's environment
// shuts down, so a worker can exit without stopping its polls first.
#include "common.h"
#include <uv.h>
#include <stdlib.h>
#include <errno.h>

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  napi_async_cleanup_hook_handle cleanup;
  int refs;      // 1 for the external, 1 while the uv handle is open
  bool active;   // uv handle open and callback referenced
} poller_t;

static void release(poller_t *p) {
  if (--p->refs == 0) free(p);
}

static void on_closed(uv_handle_t *h) {
  poller_t *p = h->data;
  napi_remove_async_cleanup_hook(p->cleanup);
  release(p);
}

static void shut(poller_t *p) {
  if (!p->active) return;
  p->active = false;
  uv_poll_stop(&p->handle);
  napi_delete_reference(p->env, p->callback);
  napi_async_destroy(p->env, p->async);
  uv_close((uv_handle_t *)&p->handle, on_closed);
}

static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  shut((poller_t *)arg);
}

static void on_finalize(napi_env env, void *data, void *hint) {
  poller_t *p = data;
  shut(p);
  release(p);
}

static void on_ready(uv_poll_t *h, int status, int events) {
  poller_t *p = h->data;
  if (!p->active) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[1], result;
  napi_get_reference_value(env, p->callback, &cb);
  // napi_make_callback wants an object receiver.
  napi_get_global(env, &recv);
  // Readable/writable bits, or a negative errno (e.g. the fd went bad).
  argv[0] = make_i32(env, status < 0 ? status : events);
  if (napi_make_callback(env, p->async, recv, cb, 1, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

// pollStart(fd, events, callback) -> external handle, or a negative errno.
static napi_value poll_start(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd, events;
  if (!get_args(env, info, 3, argv) || !arg_i32(env, argv[0], &fd) || !arg_i32(env, argv[1], &events)) return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, NULL, "sixgate addon: pollStart needs a callback");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return make_i32(env, -ENOSYS);
  poller_t *p = calloc(1, sizeof *p);
  if (p == NULL) return make_i32(env, -ENOMEM);
  int rc = uv_poll_init(loop, &p->handle, fd);
  if (rc < 0) {
    free(p);
    return make_i32(env, rc);  // libuv errors are negative errnos on Unix
  }
  p->handle.data = p;
  p->env = env;
  rc = uv_poll_start(&p->handle, events & (UV_READABLE | UV_WRITABLE), on_ready);
  if (rc < 0) {
    // The handle is initialised, so it must go through uv_close.
    p->refs = 1;
    p->cleanup = NULL;
    uv_close((uv_handle_t *)&p->handle, (uv_close_cb)free);
    return make_i32(env, rc);
  }
  napi_value name, external;
  napi_create_reference(env, argv[2], 1, &p->callback);
  napi_create_string_utf8(env, "sixgate:poll", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &p->async);
  napi_add_async_cleanup_hook(env, on_env_cleanup, p, &p->cleanup);
  p->active = true;
  p->refs = 2;
  napi_create_external(env, p, on_finalize, NULL, &external);
  return external;
}

static poller_t *arg_poller(napi_env env, napi_value v) {
  return arg_external(env, v, "sixgate addon: expected a poll handle");
}

// pollUpdate(handle, events) -> 0 or negative errno (EBADF once stopped).
static napi_value poll_update(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t events;
  if (!get_args(env, info, 2, argv)) return NULL;
  poller_t *p = arg_poller(env, argv[0]);
  if (p == NULL || !arg_i32(env, argv[1], &events)) return NULL;
  if (!p->active) return make_i32(env, -EBADF);
  return make_i32(env, uv_poll_start(&p->handle, events & (UV_READABLE | UV_WRITABLE), on_ready));
}

// pollStop(handle): idempotent; must come before the fd is closed.
static napi_value poll_stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  poller_t *p = arg_poller(env, argv[0]);
  if (p == NULL) return NULL;
  shut(p);
  return make_i32(env, 0);
}

void init_poll(napi_env env, napi_value exports) {
  static const export_t list[] = {
    { "pollStart", poll_start },
    { "pollUpdate", poll_update },
    { "pollStop", poll_stop },
  };
  export_all(env, exports, list, sizeof list / sizeof list[0]);
}
