#!/usr/bin/env bash
# Builds the native side: libbunker.so (loaded by src/sys through bun:ffi) and
# the static bunker-init. Runs on `npm install` and before the tests; only gcc
# and libc's static archive are needed, both on a fresh Debian machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/build"
mkdir -p "$out"
flags=(-O2 -g -Wall -Wextra -Werror -std=gnu11 -D_FORTIFY_SOURCE=2)
if [ "$(uname -s)" != Linux ]; then
  echo "ffi/build.sh: Bunker's native side needs Linux; skipping the build" >&2
  exit 0
fi
cc=${CC:-gcc}
newer() { [ ! -e "$1" ] || [ -n "$(find "$here" -maxdepth 1 -newer "$1" \( -name '*.c' -o -name '*.h' \))" ]; }
if newer "$out/libbunker.so"; then
  "$cc" "${flags[@]}" -fPIC -shared -o "$out/libbunker.so.tmp" "$here/spawn.c"
  mv "$out/libbunker.so.tmp" "$out/libbunker.so"
fi
if newer "$out/bunker-init"; then
  # Static and freestanding: it runs inside the task's root, where the host's
  # libc may not be, and it starts in microseconds without one (see init.c).
  "$cc" -O2 -g -Wall -Wextra -Werror -std=gnu11 -static -nostdlib -ffreestanding -fno-builtin \
    -fno-stack-protector -fno-pie -no-pie -o "$out/bunker-init.tmp" "$here/init.c"
  mv "$out/bunker-init.tmp" "$out/bunker-init"
fi
