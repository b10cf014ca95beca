// TUN batches through io_uring: a read or write of many packets in one system
// call. A TUN moves one packet per read(2)/write(2) and has no multi-packet
// call for userspace (tun_sendmsg's TUN_MSG_PTR batch is for vhost only), so
// a batch of small packets costs a system call each, and with it a chance to
// be preempted on the way back to userspace after every write (the write
// runs the kernel's forwarding of the packet and wakes its receiver). Here
// one io_uring_enter submits the whole batch and waits for it: every request
// runs inline, in order, with RWF_NOWAIT (an empty queue completes a read
// with -EAGAIN; O_NONBLOCK alone is not enough: io_uring would arm a poll for
// a file that supports non-blocking I/O and the wait would never end).
//
// Raw syscalls against <linux/io_uring.h>, no liburing. One ring per open
// TUN, used by the thread that opened it; the TUN's fd is passed per request
// (not registered), so the ring never keeps a closed TUN alive.
#include "common.h"
#include <errno.h>
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

// Requests per io_uring_enter; a larger batch goes in several.
#define URING_ENTRIES 128
// Reads per round beyond the last call's count: a round that comes back full
// is followed by one twice its size, so an idle queue costs a few -EAGAIN
// requests, not a ring's worth.
#define READ_MIN 4

typedef struct {
  int ring_fd;
  unsigned *sq_tail, *sq_mask, *sq_array;
  unsigned *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
  void *sq_map, *cq_map;
  size_t sq_map_len, cq_map_len, sqes_len;
  unsigned read_want;
  // A read's two buffers (its slot, then a spill that catches an oversize tail), per request.
  struct iovec iov[URING_ENTRIES][2];
  int32_t res[URING_ENTRIES];
} uring_t;

static void uring_unmap(uring_t *u) {
  if (u->sqes != NULL && u->sqes != MAP_FAILED) munmap(u->sqes, u->sqes_len);
  if (u->cq_map != NULL && u->cq_map != MAP_FAILED && u->cq_map != u->sq_map) munmap(u->cq_map, u->cq_map_len);
  if (u->sq_map != NULL && u->sq_map != MAP_FAILED) munmap(u->sq_map, u->sq_map_len);
  if (u->ring_fd >= 0) close(u->ring_fd);
  u->ring_fd = -1;
  u->sqes = NULL;
  u->sq_map = u->cq_map = NULL;
}

static int uring_setup(uring_t *u) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  // SUBMIT_ALL (Linux 5.18): a request refused at submission (a bad fd)
  // completes with its error and the rest still go, so every one completes.
  p.flags = IORING_SETUP_SUBMIT_ALL;
  u->ring_fd = (int)syscall(__NR_io_uring_setup, URING_ENTRIES, &p);
  if (u->ring_fd < 0) return -errno;
  u->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  u->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (p.features & IORING_FEAT_SINGLE_MMAP) {
    if (u->cq_map_len > u->sq_map_len) u->sq_map_len = u->cq_map_len;
  }
  u->sq_map = mmap(NULL, u->sq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->ring_fd, IORING_OFF_SQ_RING);
  if (u->sq_map == MAP_FAILED) return -errno;
  u->cq_map = (p.features & IORING_FEAT_SINGLE_MMAP) ? u->sq_map
    : mmap(NULL, u->cq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->ring_fd, IORING_OFF_CQ_RING);
  if (u->cq_map == MAP_FAILED) return -errno;
  u->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
  u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->ring_fd, IORING_OFF_SQES);
  if (u->sqes == MAP_FAILED) return -errno;
  uint8_t *sq = u->sq_map, *cq = u->cq_map;
  u->sq_tail = (unsigned *)(sq + p.sq_off.tail);
  u->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
  u->sq_array = (unsigned *)(sq + p.sq_off.array);
  u->cq_head = (unsigned *)(cq + p.cq_off.head);
  u->cq_tail = (unsigned *)(cq + p.cq_off.tail);
  u->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  u->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  u->read_want = READ_MIN;
  return 0;
}

// Queues one read or write of `len` bytes at `addr` (iovecs for READV);
// user_data is the request's index in the batch.
static void uring_queue(uring_t *u, unsigned k, uint8_t op, int fd, void *addr, unsigned len) {
  unsigned tail = *u->sq_tail + k;
  unsigned idx = tail & *u->sq_mask;
  struct io_uring_sqe *sqe = &u->sqes[idx];
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = op;
  sqe->fd = fd;
  sqe->addr = (uint64_t)(uintptr_t)addr;
  sqe->len = len;
  sqe->off = (uint64_t)-1;  // the file's position: none for a TUN
  if (op != IORING_OP_NOP) sqe->rw_flags = RWF_NOWAIT;
  sqe->user_data = k;
  u->sq_array[idx] = idx;
}

// Submits the n queued requests and waits for all of them; fills u->res by
// index. Returns 0 or a negative errno: then requests may be left queued or
// completions unread, so the ring is closed (its calls return -EBADF) and
// the caller's error handling reopens the device.
static int uring_run(uring_t *u, unsigned n) {
  atomic_store_explicit((_Atomic unsigned *)u->sq_tail, *u->sq_tail + n, memory_order_release);
  unsigned done = 0;
  while (done < n) {
    // The kernel submits only what is still queued, so asking for n again after EINTR is safe.
    int rc = (int)syscall(__NR_io_uring_enter, u->ring_fd, n, n - done, IORING_ENTER_GETEVENTS, NULL, 0);
    if (rc < 0 && errno != EINTR) {
      int e = errno;
      uring_unmap(u);
      return -e;
    }
    unsigned head = *u->cq_head;
    unsigned tail = atomic_load_explicit((_Atomic unsigned *)u->cq_tail, memory_order_acquire);
    for (; head != tail; head++, done++) {
      const struct io_uring_cqe *cqe = &u->cqes[head & *u->cq_mask];
      u->res[cqe->user_data] = cqe->res;
    }
    atomic_store_explicit((_Atomic unsigned *)u->cq_head, head, memory_order_release);
  }
  return 0;
}

static void on_finalize(napi_env env, void *data, void *hint) {
  uring_unmap(data);
  free(data);
}

static uring_t *arg_uring(napi_env env, napi_value v) {
  return arg_external(env, v, "sixgate addon: expected a uring handle");
}

// uringOpen() -> external handle, or a negative errno (ENOSYS, EPERM where a
// seccomp profile forbids io_uring: the caller keeps readv/write).
static napi_value uring_open(napi_env env, napi_callback_info info) {
  uring_t *u = calloc(1, sizeof *u);
  if (u == NULL) return make_i32(env, -ENOMEM);
  int rc = uring_setup(u);
  if (rc < 0) {
    uring_unmap(u);
    free(u);
    return make_i32(env, rc);
  }
  napi_value external;
  napi_create_external(env, u, on_finalize, NULL, &external);
  return external;
}

// uringClose(handle): idempotent; the handle's calls return -EBADF after it.
static napi_value uring_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  uring_t *u = arg_uring(env, argv[0]);
  if (u == NULL) return NULL;
  uring_unmap(u);
  return make_i32(env, 0);
}

// tunUringRead(handle, fd, buf, lens, slotSize, headroom, vnetLen, max, counters, stamp)
// -> n or negative errno: tunRead's contract (tun.c), reading until the queue
// is empty or `max`, with the reads submitted in rounds. A read that finds
// the queue empty leaves its slot out; a later one that found a packet moves
// down, so slots 0..n-1 hold the packets in the order read.
static napi_value tun_uring_read(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  ring_t r;
  int32_t fd, max;
  size_t vnet;
  double *c;
  if (!get_args(env, info, 10, argv)) return NULL;
  uring_t *u = arg_uring(env, argv[0]);
  if (u == NULL || !arg_i32(env, argv[1], &fd) || !arg_ring(env, argv + 2, &r) || !arg_vnet(env, argv[6], &r, &vnet) ||
      !arg_i32(env, argv[7], &max) || !arg_counters(env, argv[8], &c) || !stamp_read(env, argv[9])) return NULL;
  if (u->ring_fd < 0) return make_i32(env, -EBADF);
  size_t limit = max < 0 ? 0 : (size_t)max;
  if (limit > r.slots) limit = r.slots;
  size_t n = 0;
  int err = 0;
  bool drained = false;
  unsigned want = u->read_want;
  while (n < limit && !drained && err == 0) {
    unsigned round = limit - n < want ? (unsigned)(limit - n) : want;
    for (unsigned k = 0; k < round; k++) {
      u->iov[k][0] = (struct iovec){ slot_data(&r, n + k) - vnet, slot_room(&r) + vnet };
      u->iov[k][1] = (struct iovec){ tun_spill, sizeof tun_spill };
      uring_queue(u, k, IORING_OP_READV, fd, u->iov[k], 2);
    }
    int rc = uring_run(u, round);
    if (rc < 0) {
      err = rc;
      break;
    }
    size_t first = n;
    for (unsigned k = 0; k < round; k++) {
      int32_t got = u->res[k];
      if (got < 0) {
        if (got == -EAGAIN) drained = true;
        else if (err == 0) err = got;
        continue;
      }
      if (!tun_rx_settle(&r, c, n, (size_t)got, vnet)) continue;
      if (n != first + k) memmove(slot_data(&r, n) - vnet, slot_data(&r, first + k) - vnet, (size_t)got);
      n++;
    }
    // A full round means more may be waiting: the next one is twice as big.
    want = want * 2 > URING_ENTRIES ? URING_ENTRIES : want * 2;
  }
  // The next call starts near this one's size, so a steady flow needs one
  // round; an empty call (a last look before sleeping) says nothing of it.
  unsigned next = (unsigned)n + READ_MIN;
  if (n > 0) u->read_want = next > URING_ENTRIES ? URING_ENTRIES : next;
  if (n == 0 && err != 0) return make_i32(env, err);
  return make_i32(env, (int32_t)n);
}

// tunUringWrite(handle, fd, buf, lens, slotSize, headroom, vnetLen, start, count, counters)
// -> packets consumed from `start` or negative errno: tunWrite's contract
// (tun.c) with the batch's writes submitted together. Every write is tried;
// the count stops at the first that found the queue full (EAGAIN), so the
// caller drops (or retries) the rest as before.
static napi_value tun_uring_write(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  ring_t r;
  int32_t fd, start, count;
  size_t vnet;
  double *c;
  if (!get_args(env, info, 10, argv)) return NULL;
  uring_t *u = arg_uring(env, argv[0]);
  if (u == NULL || !arg_i32(env, argv[1], &fd) || !arg_ring(env, argv + 2, &r) || !arg_vnet(env, argv[6], &r, &vnet) ||
      !arg_i32(env, argv[7], &start) || !arg_i32(env, argv[8], &count) || !arg_counters(env, argv[9], &c)) return NULL;
  if (start < 0 || count < 0 || (size_t)start + (size_t)count > r.slots) return make_i32(env, -ERANGE);
  if (u->ring_fd < 0) return make_i32(env, -EBADF);
  size_t i = (size_t)start, end = (size_t)start + (size_t)count;
  while (i < end) {
    unsigned batch = end - i > URING_ENTRIES ? URING_ENTRIES : (unsigned)(end - i);
    for (unsigned k = 0; k < batch; k++) {
      int32_t len = r.lens[i + k];
      // An impossible length never reaches the kernel: rejected below.
      bool bad = len < 0 || (size_t)len > slot_room(&r);
      uring_queue(u, k, bad ? IORING_OP_NOP : IORING_OP_WRITE, fd, slot_data(&r, i + k) - vnet, bad ? 0 : (unsigned)len + vnet);
    }
    int rc = uring_run(u, batch);
    if (rc < 0) return i > (size_t)start ? make_i32(env, (int32_t)(i - (size_t)start)) : make_i32(env, rc);
    for (unsigned k = 0; k < batch; k++, i++) {
      int32_t len = r.lens[i];
      int e = len < 0 || (size_t)len > slot_room(&r) ? EMSGSIZE : u->res[k] < 0 ? -u->res[k] : 0;
      if (tun_tx_settle(c, len, e)) continue;
      if (e != EAGAIN && i == (size_t)start) return make_i32(env, -e);
      return make_i32(env, (int32_t)(i - (size_t)start));
    }
  }
  return make_i32(env, (int32_t)(i - (size_t)start));
}

void init_uring(napi_env env, napi_value exports) {
  static const export_t list[] = {
    { "uringOpen", uring_open },
    { "uringClose", uring_close },
    { "tunUringRead", tun_uring_read },
    { "tunUringWrite", tun_uring_write },
  };
  export_all(env, exports, list, sizeof list / sizeof list[0]);
}
