// eBPF programs through the bpf(2) syscall: load a program (instructions
// assembled in TypeScript, src/io/ebpf.ts) and run it on a test packet
// (BPF_PROG_TEST_RUN); create the maps it uses and read or write their
// entries, one at a time or in batches; attach a traffic-control program to
// a device (tcx, Linux 6.6: a link that lives as long as its fd, so a
// crashed daemon leaves nothing attached). tunqueue.c attaches a program to
// a TUN.
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

// A new descriptor as the addon returns it: tracked (closed with the
// environment), or the negative errno of the call that failed.
static napi_value fd_result(napi_env env, int fd) {
  if (fd < 0) return make_i32(env, -errno);
  track_fd(env, fd);
  return make_i32(env, fd);
}

// Attach types Debian 12's <linux/bpf.h> (6.1) predates (enum bpf_attach_type).
#define SIXGATE_BPF_TCX_INGRESS 46
#define SIXGATE_BPF_TCX_EGRESS 47

// bpfProgLoad(type, insns) -> program fd or negative errno; on a refusal
// the verifier's log is in bpfVerifierLog().
static napi_value bpf_prog_load(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t type;
  uint8_t *insns;
  size_t len;
  if (!get_args(env, info, 2, argv) || !arg_i32(env, argv[0], &type) || !arg_u8array(env, argv[1], &insns, &len)) return NULL;
  if (len == 0 || len % sizeof(struct bpf_insn) != 0) return make_i32(env, -EINVAL);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = (uint32_t)type;
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
  return fd_result(env, fd);
}

// bpfVerifierLog() -> the last refused program's log (one buffer for the process: for error messages only).
static napi_value bpf_verifier_log(napi_env env, napi_callback_info info) {
  napi_value out;
  napi_create_string_utf8(env, verifier_log, strnlen(verifier_log, sizeof verifier_log), &out);
  return out;
}

// bpfTestRun(progFd, frame, out?, outLength?) -> the program's return value
// (an unsigned 32-bit number) or negative errno. `frame` starts with an
// Ethernet header (a socket filter sees what follows it). With `out` (a
// Uint8Array) and `outLength` (an Int32Array), the frame as the program left
// it is copied to `out` and its length to outLength[0].
static napi_value bpf_test_run(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd;
  int32_t *out_len = NULL;
  uint8_t *data, *out = NULL;
  size_t len, out_cap = 0, out_len_cap = 0;
  napi_valuetype t;
  if (!get_args(env, info, 4, argv) || !arg_i32(env, argv[0], &fd) || !arg_u8array(env, argv[1], &data, &len)) return NULL;
  napi_typeof(env, argv[2], &t);
  if (t != napi_undefined && (!arg_u8array(env, argv[2], &out, &out_cap) || !arg_i32array(env, argv[3], &out_len, &out_len_cap)))
    return NULL;
  if (out != NULL && out_len_cap == 0) return make_i32(env, -EINVAL);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.test.prog_fd = (uint32_t)fd;
  attr.test.data_in = (uint64_t)(uintptr_t)data;
  attr.test.data_size_in = (uint32_t)len;
  attr.test.data_out = (uint64_t)(uintptr_t)out;
  attr.test.data_size_out = (uint32_t)out_cap;
  attr.test.repeat = 1;
  if (sys_bpf(BPF_PROG_TEST_RUN, &attr) < 0) return make_i32(env, -errno);
  if (out != NULL) out_len[0] = (int32_t)attr.test.data_size_out;
  napi_value result;
  napi_create_double(env, (double)attr.test.retval, &result);
  return result;
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
  return fd_result(env, fd);
}

// bpfTcxAttach(progFd, ifindex, egress) -> link fd or negative errno. The
// program runs before the device's classic tc filters (clsact), which still
// see what it passes on (TCX_NEXT); closing the fd detaches it.
static napi_value bpf_tcx_attach(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t prog, ifindex, egress;
  if (!get_args(env, info, 3, argv) || !arg_i32(env, argv[0], &prog) || !arg_i32(env, argv[1], &ifindex) ||
      !arg_i32(env, argv[2], &egress)) return NULL;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.link_create.prog_fd = (uint32_t)prog;
  attr.link_create.target_ifindex = (uint32_t)ifindex;
  attr.link_create.attach_type = egress ? SIXGATE_BPF_TCX_EGRESS : SIXGATE_BPF_TCX_INGRESS;
  int fd = (int)sys_bpf(BPF_LINK_CREATE, &attr);
  return fd_result(env, fd);
}

static int map_elem(int cmd, int32_t fd, void *key, void *value, uint64_t flags) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = (uint32_t)fd;
  attr.key = (uint64_t)(uintptr_t)key;
  attr.value = (uint64_t)(uintptr_t)value;
  attr.flags = flags;
  return sys_bpf(cmd, &attr) < 0 ? -errno : 0;
}

// (fd, key[, value]) -> map_elem(cmd) on them; `with_value` false: no value (a delete).
static napi_value map_elem_call(napi_env env, napi_callback_info info, int cmd, bool with_value, uint64_t flags) {
  napi_value argv[3];
  int32_t fd;
  uint8_t *key, *value = NULL;
  size_t klen, vlen;
  if (!get_args(env, info, 3, argv) || !arg_i32(env, argv[0], &fd) || !arg_u8array(env, argv[1], &key, &klen) ||
      (with_value && !arg_u8array(env, argv[2], &value, &vlen))) return NULL;
  return make_i32(env, map_elem(cmd, fd, key, value, flags));
}

// bpfMapUpdate(fd, key, value) -> 0 or negative errno (E2BIG: the map is full).
static napi_value bpf_map_update(napi_env env, napi_callback_info info) {
  return map_elem_call(env, info, BPF_MAP_UPDATE_ELEM, true, BPF_ANY);
}

// bpfMapLookup(fd, key, valueOut) -> 0 or negative errno (ENOENT: no such key).
static napi_value bpf_map_lookup(napi_env env, napi_callback_info info) {
  return map_elem_call(env, info, BPF_MAP_LOOKUP_ELEM, true, 0);
}

// bpfMapDelete(fd, key) -> 0 or negative errno (ENOENT: no such key).
static napi_value bpf_map_delete(napi_env env, napi_callback_info info) {
  return map_elem_call(env, info, BPF_MAP_DELETE_ELEM, false, 0);
}

// bpfMapUpdateMany(fd, keys, values, keySize, valueSize, count) -> how many
// of the first `count` records were written, or a negative errno if none
// was. One syscall per entry: BPF_MAP_UPDATE_BATCH stops at the first
// refusal (a full map) without saying which, and these batches are small.
static napi_value bpf_map_update_many(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  int32_t fd, key_size, value_size, count;
  uint8_t *keys, *values;
  size_t klen, vlen;
  if (!get_args(env, info, 6, argv) || !arg_i32(env, argv[0], &fd) || !arg_u8array(env, argv[1], &keys, &klen) ||
      !arg_u8array(env, argv[2], &values, &vlen) || !arg_i32(env, argv[3], &key_size) ||
      !arg_i32(env, argv[4], &value_size) || !arg_i32(env, argv[5], &count)) return NULL;
  if (count < 0 || key_size <= 0 || value_size <= 0 || (size_t)count * (size_t)key_size > klen ||
      (size_t)count * (size_t)value_size > vlen) return make_i32(env, -EINVAL);
  int done = 0, err = 0;
  for (int i = 0; i < count; i++) {
    int r = map_elem(BPF_MAP_UPDATE_ELEM, fd, keys + (size_t)i * key_size, values + (size_t)i * value_size, BPF_ANY);
    if (r == 0) done++;
    else err = r;
  }
  return make_i32(env, done > 0 || err == 0 ? done : err);
}

// bpfMapDump(fd, keysOut, valuesOut, keySize, valueSize) -> how many entries
// were copied (as many as fit; BPF_MAP_LOOKUP_BATCH, Linux 5.6) or negative errno.
static napi_value bpf_map_dump(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t fd, key_size, value_size;
  uint8_t *keys, *values;
  size_t klen, vlen;
  if (!get_args(env, info, 5, argv) || !arg_i32(env, argv[0], &fd) || !arg_u8array(env, argv[1], &keys, &klen) ||
      !arg_u8array(env, argv[2], &values, &vlen) || !arg_i32(env, argv[3], &key_size) || !arg_i32(env, argv[4], &value_size))
    return NULL;
  if (key_size <= 0 || value_size <= 0) return make_i32(env, -EINVAL);
  size_t cap = klen / (size_t)key_size;
  if (vlen / (size_t)value_size < cap) cap = vlen / (size_t)value_size;
  uint8_t batch[64];
  if ((size_t)key_size > sizeof batch) return make_i32(env, -EINVAL);
  size_t total = 0;
  bool first = true;
  while (total < cap) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.batch.map_fd = (uint32_t)fd;
    attr.batch.in_batch = first ? 0 : (uint64_t)(uintptr_t)batch;
    attr.batch.out_batch = (uint64_t)(uintptr_t)batch;
    attr.batch.keys = (uint64_t)(uintptr_t)(keys + total * (size_t)key_size);
    attr.batch.values = (uint64_t)(uintptr_t)(values + total * (size_t)value_size);
    attr.batch.count = (uint32_t)(cap - total);
    long r = sys_bpf(BPF_MAP_LOOKUP_BATCH, &attr);
    total += attr.batch.count;
    first = false;
    if (r < 0) {
      if (errno == ENOENT) break;  // the end of the map
      if (errno == ENOSPC && total > 0) break;  // a bucket larger than what is left: as many as fit
      return make_i32(env, total > 0 ? (int32_t)total : -errno);
    }
  }
  return make_i32(env, (int32_t)total);
}

void init_ebpf(napi_env env, napi_value exports) {
  static const export_t list[] = {
    { "bpfProgLoad", bpf_prog_load },
    { "bpfVerifierLog", bpf_verifier_log },
    { "bpfTestRun", bpf_test_run },
    { "bpfMapCreate", bpf_map_create },
    { "bpfTcxAttach", bpf_tcx_attach },
    { "bpfMapUpdate", bpf_map_update },
    { "bpfMapUpdateMany", bpf_map_update_many },
    { "bpfMapLookup", bpf_map_lookup },
    { "bpfMapDelete", bpf_map_delete },
    { "bpfMapDump", bpf_map_dump },
  };
  export_all(env, exports, list, sizeof list / sizeof list[0]);
}
