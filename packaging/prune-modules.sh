#!/bin/sh
# Removes from an installed node_modules what no program reads at run time:
# type declarations, source maps, TypeScript sources and Markdown. Shared by
# the container image (Dockerfile) and the Debian package (scripts/package-deb.mjs).
#   prune-modules.sh NODE_MODULES_DIR
set -eu
find "$1" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.md' -o -name '*.ts' \) -delete
# The .bin links of the modules' command-line tools: nothing runs them, and a copy of the tree
# would carry them as links into the build directory.
find "$1" -type d -name .bin -prune -exec rm -rf {} +
# Scope folders npm prune emptied (@types once @types/node is gone).
find "$1" -type d -empty -delete
