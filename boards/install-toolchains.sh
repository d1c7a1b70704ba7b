#!/usr/bin/env bash
# Install the Debian packages the boards and the tests need when they are missing: the host C compiler,
# make and CMake (the generated build files), the Arm and RISC-V cross compilers, newlib for Arm, QEMU
# for both, and clang/lld for the clang builds. Safe to run again:
# installed packages are skipped, and apt-get runs only when something is missing.
#   boards/install-toolchains.sh          install what is missing (uses sudo when not root)
#   boards/install-toolchains.sh --check  only list what is missing; exit 1 if anything is
set -euo pipefail

packages=(
  gcc make cmake                                                     # host builds, Makefile and CMakeLists
  gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi  # Cortex-M boards
  qemu-system-arm                                                    # mps2-an385/386/500/505, mps3-an547
  gcc-riscv64-unknown-elf                                            # riscv32 (rv32imac multilib, no libc)
  qemu-system-misc                                                   # qemu-system-riscv32
  clang lld                                                          # --cc clang builds
  libclang-rt-14-dev                                                 # clang sanitizer runtimes (tests/test_sanitizers.py)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-toolchains: all packages are installed"
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  echo "install-toolchains: missing ${missing[*]}"
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-toolchains: installing ${missing[*]}"
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
