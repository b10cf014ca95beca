// eBPF programs through the bpf(2) syscall: load a socket-filter program
// (instructions assembled in TypeScript, src/io/ebpf.ts) and run it on a
// test packet (BPF_PROG_TEST_RUN); create a map it uses. tunqueue.c attaches
// a program to a TUN.
#include "common.h"
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

// The verifier's log when a program is refused: the reason is in it.
static char verifier_log[16384];

static long sys_bpf(int cmd, union bpf_attr *attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof *attr);
}

// bpfLoadSocketFilter(insns) -> program fd or negative errno; on a refusal
// the verifier's log is in bpfVerifierLog().
static napi_value bpf_load_socket_filter(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint8_t *insns;
  size_t len;
  if (!get_args(env, info, 1, argv) || !arg_u8array(env, argv[0], &insns, &len)) return NULL;
  if (len == 0 || len % sizeof(struct bpf_insn) != 0) return make_i32(env, -EINVAL);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insns = (uint64_t)(uintptr_t)insns;
  attr.insn_cnt = (uint32_t)(len / sizeof(struct bpf_insn));
  attr.license = (uint64_t)(uintptr_t)"GPL";
  int fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
  if (fd < 0) {
    // Refused: once more with the verifier's log, which says why.
    int e = errno;
    verifier_log[0] = 0;
    attr.log_buf = (uint64_t)(uintptr_t)verifier_log;
    attr.log_size = sizeof verifier_log;
    attr.log_level = 1;
    fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
    if (fd >= 0) close(fd);
    fd = -1;
    errno = e;
  }
  if (fd < 0) return make_i32(env, -errno);
  track_fd(env, fd);
  return make_i32(env, fd);
}

// bpfVerifierLog() -> the last refused program's log (one buffer for the process: for error messages only).
static napi_value bpf_verifier_log(napi_env env, napi_callback_info info) {
  napi_value out;
  napi_create_string_utf8(env, verifier_log, strnlen(verifier_log, sizeof verifier_log), &out);
  return out;
}

// bpfTestRun(progFd, packet) -> the program's return value (>= 0) or
// negative errno. A socket filter sees the packet after an Ethernet header
// is pulled, so `packet` starts with 14 bytes of Ethernet header.
static napi_value bpf_test_run(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  uint8_t *data;
  size_t len;
  if (!get_args(env, info, 2, argv) || !arg_i32(env, argv[0], &fd) || !arg_u8array(env, argv[1], &data, &len)) return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.test.prog_fd = (uint32_t)fd;
  attr.test.data_in = (uint64_t)(uintptr_t)data;
  attr.test.data_size_in = (uint32_t)len;
  attr.test.repeat = 1;
  if (sys_bpf(BPF_PROG_TEST_RUN, &attr) < 0) return make_i32(env, -errno);
  napi_value out;
  napi_create_double(env, (double)attr.test.retval, &out);
  return out;
}

// bpfMapCreate(type, keySize, valueSize, maxEntries) -> map fd or negative errno.
static napi_value bpf_map_create(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t type, key, value, max;
  if (!get_args(env, info, 4, argv) || !arg_i32(env, argv[0], &type) || !arg_i32(env, argv[1], &key) ||
      !arg_i32(env, argv[2], &value) || !arg_i32(env, argv[3], &max)) return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_type = (uint32_t)type;
  attr.key_size = (uint32_t)key;
  attr.value_size = (uint32_t)value;
  attr.max_entries = (uint32_t)max;
  int fd = (int)sys_bpf(BPF_MAP_CREATE, &attr);
  if (fd < 0) return make_i32(env, -errno);
  track_fd(env, fd);
  return make_i32(env, fd);
}

void init_ebpf(napi_env env, napi_value exports) {
  static const export_t list[] = {
    { "bpfLoadSocketFilter", bpf_load_socket_filter },
    { "bpfVerifierLog", bpf_verifier_log },
    { "bpfTestRun", bpf_test_run },
    { "bpfMapCreate", bpf_map_create },
  };
  export_all(env, exports, list, sizeof list / sizeof list[0]);
}
