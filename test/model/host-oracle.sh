#!/usr/bin/env bash
# Runs hostOracle.test.ts with `/` being a scratch ext4 directory: the reference model checked
# against Linux and node:fs. Needs root (a mount namespace and chroot). The host's directories
# that node needs are bind-mounted read-only inside, so nothing a test does can touch them.
#   bash test/model/host-oracle.sh            # 500 runs
#   COWSTACK_FC_RUNS=3000 bash test/model/host-oracle.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
root=$(mktemp -d /tmp/cowstack-oracle.XXXXXX)
trap 'rm -rf "$root" 2>/dev/null || true' EXIT
chmod 755 "$root"
exec unshare -m bash -euo pipefail -c '
  root=$1; repo=$2
  mount --make-rprivate /
  for d in usr bin sbin lib lib64 etc dev proc; do
    [ -e "/$d" ] || continue
    if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$root/$d"; continue; fi
    mkdir -p "$root/$d"
    mount --rbind "/$d" "$root/$d"
    mount -o remount,bind,ro "$root/$d" 2>/dev/null || true
  done
  mkdir -p "$root/tmp" "$root$repo"
  mount -t tmpfs tmpfs "$root/tmp"
  mount --bind "$repo" "$root$repo"
  chroot "$root" /usr/bin/env -C "$repo" COWSTACK_HOST_ORACLE=1 COWSTACK_FC_RUNS="${COWSTACK_FC_RUNS:-500}" \
    npx vitest run test/model/hostOracle.test.ts
' oracle "$root" "$repo"
