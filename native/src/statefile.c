// The connection table's file-backed shared mapping: the state file mapped
// over the table's own memory (a WebAssembly memory, page aligned and never
// grown), so every write the engine makes lands in the page cache and
// outlives the process (a SIGKILL, a crash, an OOM kill; not a power loss).
// The JavaScript views keep their addresses: only the pages behind them change.
// Locking the file keeps a second daemon from sharing the table.
#include "common.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

// stateMap(buffer, fd) -> 0 or negative errno. Maps the first
// buffer.byteLength bytes of fd (which must be at least that long: a page
// past the end of the file would raise SIGBUS) over the buffer's memory.
static napi_value state_map(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  bool is = false;
  void *data = NULL;
  size_t len = 0;
  if (!get_args(env, info, 2, argv) || !arg_i32(env, argv[1], &fd)) return NULL;
  if (napi_is_arraybuffer(env, argv[0], &is) != napi_ok || !is ||
      napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "sixgate addon: expected an ArrayBuffer");
    return NULL;
  }
  long page = sysconf(_SC_PAGESIZE);
  if (data == NULL || len == 0 || (uintptr_t)data % (uintptr_t)page != 0 || len % (size_t)page != 0) {
    return make_i32(env, -EINVAL);
  }
  struct stat st;
  if (fstat(fd, &st) < 0) return make_i32(env, -errno);
  if (!S_ISREG(st.st_mode)) return make_i32(env, -EINVAL);
  if ((uint64_t)st.st_size < (uint64_t)len) return make_i32(env, -ERANGE);
  // MAP_FIXED replaces the anonymous pages in place; on failure the old
  // mapping may be gone too, so the caller must not touch the buffer.
  void *at = mmap(data, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
  if (at == MAP_FAILED) return make_i32(env, -errno);
  return make_i32(env, 0);
}

// stateLock(fd) -> 0 or negative errno (EAGAIN: another process holds it).
// A POSIX record lock, not flock: a flock lives as long as the open file,
// which a mapping keeps open, so a stopped table still mapped in this
// process would lock out its successor. A record lock belongs to the
// process: it goes when the process closes the file or ends, and never
// conflicts with the same process.
static napi_value state_lock(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !arg_i32(env, argv[0], &fd)) return NULL;
  struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
  return make_i32(env, fcntl(fd, F_SETLK, &lk) < 0 ? -errno : 0);
}

void init_statefile(napi_env env, napi_value exports) {
  static const export_t list[] = {
    { "stateMap", state_map },
    { "stateLock", state_lock },
  };
  export_all(env, exports, list, sizeof list / sizeof list[0]);
}
