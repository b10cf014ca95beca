#!/bin/sh
# Assembles the container image's whole root filesystem in DEST: the given
# programs and shared objects, every library they load (as the dynamic
# linker resolves them), and the few files a process expects. The image's
# last stage is FROM scratch plus this tree, so nothing else of the base
# image (package manager, perl, docs, locales) is shipped.
#
#   image-rootfs.sh DEST PROGRAM_OR_LIBRARY...
#
# Paths keep the base's layout: a merged-/usr base's top-level links
# (bin -> usr/bin, ...) are recreated and files go to their real directory.
set -eu
dest=$1
shift
loader=$(ls /lib64/ld-linux-*.so.* /lib/ld-linux-*.so.* 2>/dev/null | head -n 1)
[ -n "$loader" ] || { echo "image-rootfs: no dynamic linker found" >&2; exit 1; }

mkdir -p "$dest"
for top in bin sbin lib lib64; do
  if [ -L "/$top" ]; then ln -s "$(readlink "/$top")" "$dest/$top"; fi
done

# Copies a file to the same place under $dest, its directory resolved, the file itself dereferenced.
place() {
  dir=$(readlink -f "$(dirname "$1")")
  mkdir -p "$dest$dir"
  cp -L "$1" "$dest$dir/$(basename "$1")"
}

libs=$(mktemp)
for file in "$@"; do
  place "$file"
  # `ld.so --list` prints "name => /path (addr)" per library, "name => not found" for a
  # missing one, "/path (addr)" for the linker itself and "name (addr)" for the vDSO.
  "$loader" --list "$file" > "$libs" || { echo "image-rootfs: $file: cannot list its libraries" >&2; exit 1; }
  while read -r name arrow path rest; do
    if [ "$arrow" != "=>" ]; then path=$name; fi
    if [ "$path" = not ]; then echo "image-rootfs: $file needs $name, which this base lacks" >&2; exit 1; fi
    case "$path" in /*) place "$path" ;; esac
  done < "$libs"
done
rm -f "$libs"

mkdir -p "$dest/etc"
cp /etc/ld.so.cache /etc/passwd /etc/group "$dest/etc/"
# iproute2's table and protocol names (`ip` works without them, but prints numbers).
for dir in /etc/iproute2 /usr/share/iproute2 /usr/lib/iproute2; do
  if [ -d "$dir" ]; then mkdir -p "$dest$dir" && cp -R "$dir/." "$dest$dir/"; fi
done
mkdir -p "$dest/tmp" "$dest/run/sixgate" "$dest/var/lib/sixgate"
chmod 1777 "$dest/tmp"
