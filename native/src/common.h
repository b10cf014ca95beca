// Shared declarations of the sixgate I/O addon.
//
// Policy lives in TypeScript (src/io/); this side stays narrow: every call
// returns a count, a file descriptor or a negative errno, and only argument
// *type* mistakes (a programming error in the wrapper) throw.
#ifndef SIXGATE_COMMON_H
#define SIXGATE_COMMON_H

#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

// Counters shared with TypeScript (src/io/ring.ts `Counter`); a Float64Array
// so they do not wrap on a long-running daemon.
enum {
  C_RX_PACKETS = 0,
  C_RX_BYTES = 1,
  C_RX_OVERSIZE = 2,  // longer than a slot: dropped, never delivered cut
  C_TX_PACKETS = 3,
  C_TX_BYTES = 4,
  C_TX_REJECTED = 5,  // the kernel refused this one packet; the batch went on
  C_TX_LAST_ERRNO = 6,
  C_COUNT_NATIVE = 7,
};

// Per-slot metadata strides (src/io/ring.ts `META_STRIDE`, `ADDR_STRIDE`).
#define META_STRIDE 4
#define ADDR_STRIDE 32

// A ring as passed from TypeScript: one Uint8Array of fixed slots, packet
// data starting `headroom` bytes into each slot, lengths in an Int32Array.
typedef struct {
  uint8_t *buf;
  size_t buf_len;
  int32_t *lens;
  size_t lens_len;
  size_t slot_size;
  size_t headroom;
  size_t slots;  // min(buf_len / slot_size, lens_len)
} ring_t;

napi_value make_i32(napi_env env, int32_t v);
napi_value make_undefined(napi_env env);
bool arg_i32(napi_env env, napi_value v, int32_t *out);
bool arg_u8array(napi_env env, napi_value v, uint8_t **data, size_t *len);
bool arg_i32array(napi_env env, napi_value v, int32_t **data, size_t *len);
bool arg_f64array(napi_env env, napi_value v, double **data, size_t *len);
// Copies a JS string into `out` (NUL-terminated); false if not a string or too long.
bool arg_string(napi_env env, napi_value v, char *out, size_t cap);
// Fills `r` from (buf, lens, slotSize, headroom) at argv[i..i+3].
bool arg_ring(napi_env env, napi_value *argv, ring_t *r);
// Optional counters: a Float64Array of at least C_COUNT_NATIVE entries, or undefined.
bool arg_counters(napi_env env, napi_value v, double **out);
bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv);
// The data of a handle made by napi_create_external, or NULL after throwing `message`.
void *arg_external(napi_env env, napi_value v, const char *message);
// A TUN read's vnet header length (0 or 10, within the ring's headroom); throws otherwise.
bool arg_vnet(napi_env env, napi_value v, const ring_t *r, size_t *vnet);
// Stamps a read's Float64Array stamp[0] with CLOCK_MONOTONIC in milliseconds; throws if empty.
bool stamp_read(napi_env env, napi_value v);

static inline uint8_t *slot_data(const ring_t *r, size_t i) { return r->buf + i * r->slot_size + r->headroom; }
static inline size_t slot_room(const ring_t *r) { return r->slot_size - r->headroom; }

// The TUN read and write paths (tun.c's readv/write, uring.c's io_uring).
// tun_spill catches the tail of a packet longer than its slot, so it can be
// counted and dropped instead of delivered cut; never read, shared by all threads.
#define TUN_SPILL_LEN (65536 + 16)
extern uint8_t tun_spill[TUN_SPILL_LEN];
// Counts a read of `got` bytes (vnet header included) into slot n and sets
// its length; false, counted as oversize, when that is no packet of the slot.
bool tun_rx_settle(ring_t *r, double *c, size_t n, size_t got, size_t vnet);
// Counts a packet of `len` bytes written (err 0) or refused for itself
// (EINVAL: a bad vnet header, EMSGSIZE, EFAULT): true, it is consumed; false
// for any other errno, which the caller stops at (EAGAIN: the queue is full).
bool tun_tx_settle(double *c, int32_t len, int err);

// Descriptors opened by this environment (thread). When a worker_thread
// ends without closing its handles, the environment's teardown closes them,
// so an attached TUN queue or a socket never outlives its thread.
void track_fd(napi_env env, int fd);
void untrack_fd(napi_env env, int fd);

// Module parts register their functions through these.
typedef struct { const char *name; napi_callback fn; } export_t;
void export_all(napi_env env, napi_value exports, const export_t *list, size_t n);
void init_poll(napi_env env, napi_value exports);
void init_netif(napi_env env, napi_value exports);
void init_tun(napi_env env, napi_value exports);
void init_uring(napi_env env, napi_value exports);
void init_icmp6(napi_env env, napi_value exports);
void init_packet(napi_env env, napi_value exports);
void init_statefile(napi_env env, napi_value exports);
void init_ebpf(napi_env env, napi_value exports);
void init_tunqueue(napi_env env, napi_value exports);

#endif
