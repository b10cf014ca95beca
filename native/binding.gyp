# One C addon, Node-API only (no V8/NAN headers), so a single build serves
# every Node version with N-API 8 and works in worker_threads.
{
  "targets": [
    {
      "target_name": "sixgate_io",
      "sources": [
        "src/addon.c",
        "src/args.c",
        "src/poll.c",
        "src/netif.c",
        "src/tun.c",
        "src/uring.c",
        "src/icmp6.c",
        "src/packet.c",
        "src/statefile.c",
        "src/ebpf.c",
        "src/tunqueue.c"
      ],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_c": ["-std=gnu11"]
    }
  ]
}
