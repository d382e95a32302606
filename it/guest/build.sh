#!/usr/bin/env bash
# Builds the test guest (a multiboot ELF32 kernel) into $1 (default: it/target/guest.elf).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../target/guest.elf}"
mkdir -p "$(dirname "$out")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cflags=(-m32 -march=i686 -ffreestanding -fno-pic -fno-pie -fno-stack-protector -nostdlib -O2 -Wall -Wextra)
gcc "${cflags[@]}" -c "$here/boot.S" -o "$tmp/boot.o"
gcc "${cflags[@]}" -c "$here/guest.c" -o "$tmp/guest.o"
ld -m elf_i386 -z noexecstack --no-warn-rwx-segments -T "$here/link.ld" -nostdlib -o "$out" "$tmp/boot.o" "$tmp/guest.o"
echo "built $out"
