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
# Base images are arguments (a mirror, a pinned digest, a local image):
#   --build-arg BUILD_IMAGE=...    needs node >= 20.17, npm, python3, make, g++, Node headers
#   --build-arg RUNTIME_IMAGE=...  needs node >= 20.17 on PATH, and apt-get unless it has iproute2
#   --build-arg NPM_CI_FLAGS=--offline   install from the build image's npm cache only
# The classic builder and BuildKit both build this file (no RUN --mount).

ARG BUILD_IMAGE=node:20-bookworm
ARG RUNTIME_IMAGE=node:20-bookworm-slim

FROM ${BUILD_IMAGE} AS build
ARG NPM_CI_FLAGS=
WORKDIR /src
# Dependencies first, so source edits reuse this layer. Scripts run below,
# once the sources they compile are here.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund ${NPM_CI_FLAGS}
COPY tsconfig.json ./
COPY native ./native
COPY src ./src
# The same two steps `npm ci` runs (prepare, install): TypeScript, then the
# addon through node-gyp. Then drop the build-only dependencies.
RUN npm run build \
 && npm run build:native \
 && npm prune --omit=dev --no-audit --no-fund ${NPM_CI_FLAGS} \
 && chmod 755 dist/src/cli/main.js

FROM ${RUNTIME_IMAGE}
# Routes, rules and the route monitor go through iproute2's `ip`, which node
# images lack; a base image that has it (a local mirror's) skips the install.
RUN command -v ip >/dev/null 2>&1 || { apt-get update \
    && apt-get install -y --no-install-recommends iproute2 \
    && rm -rf /var/lib/apt/lists/*; }
# The layout of a host install (systemd/README.md): /usr/lib/sixgate and /usr/bin/sixgate.
WORKDIR /usr/lib/sixgate
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/native/build/Release/sixgate_io.node ./native/build/Release/
# A Node that has --disable-sigusr1 (>= 22.14) gets it through a wrapper, so no
# SIGUSR1 can open its inspector even before sixgate's handlers are in place.
RUN if node --disable-sigusr1 -e '' 2>/dev/null; then \
      printf '#!/bin/sh\nexec node --disable-sigusr1 /usr/lib/sixgate/dist/src/cli/main.js "$@"\n' > /usr/bin/sixgate \
      && chmod 755 /usr/bin/sixgate; \
    else ln -s /usr/lib/sixgate/dist/src/cli/main.js /usr/bin/sixgate; fi \
 && mkdir -p /run/sixgate /var/lib/sixgate \
 && sixgate --version
ENV NODE_ENV=production \
    SIXGATE_STATE_FILE=/var/lib/sixgate/connections.snapshot
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["sixgate", "health"]
ENTRYPOINT ["sixgate"]
CMD ["run"]
