#!/usr/bin/env bash
# Sets up everything Atoll needs on a fresh Debian 12 / Ubuntu machine, as root:
#   1. system packages (apt)        2. npm dependencies (npm ci, native addons from source)
#   3. build (TypeScript + native)  4. the sandbox id range (checked, reserved in /etc/subuid)
#   5. the base image (Debian bookworm minbase, ~1 minute once)
#   6. the host check (`atoll doctor`): stops here, with its report, when the daemon could not run
# Idempotent: every step checks first and prints "✓ step (cached)" when there is nothing to do.
# Used by `npm start` and `npm test` (with --test: also the test-only packages; with --vm: QEMU for
# `npm run test:vm`); run it alone with `npm run setup`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive
started=$(date +%s%N)

ok() { printf '✓ %s\n' "$*"; }
doing() { printf '… %s\n' "$*"; }
die() { printf '✗ %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "setup.sh must run as root (sandboxes need loop devices, mounts, namespaces and cgroups)"
command -v node >/dev/null || die "Node.js 20 or newer is required (node not found)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || die "Node.js 20 or newer is required (found $(node --version))"

# --- 1. system packages ---------------------------------------------------------------------
# bubblewrap: the sandbox; iproute2/nftables: sandbox networks; e2fsprogs/util-linux: volumes
# (mkfs.ext4, losetup, mount); mmdebstrap/debootstrap: the base image; uidmap: subordinate ids;
# libseccomp-dev, build-essential, pkg-config, python3: native helpers and node-gyp;
# psmisc/lsof: diagnostics used by tests; libcap2-bin: getcap/setcap (file capabilities survive
# the image's uid shift); debian-archive-keyring: verifies Debian's mirror (needed on Ubuntu);
# lxcfs: sandboxes see their own memory and uptime in /proc (the daemon runs its own instance).
# xfsprogs: the copy-on-write pool of volumes and snapshots (mkfs.xfs with reflink, xfs_growfs).
# zstd: zstd-compressed layers of imported OCI images (Node 20 has no zstd; docs/images.md) and
# volume archives (`atoll volume export|import`: GNU tar --zstd).
apt_packages=(
  bubblewrap iproute2 nftables e2fsprogs util-linux mmdebstrap debootstrap uidmap libseccomp-dev
  build-essential python3 pkg-config psmisc lsof ca-certificates libcap2-bin debian-archive-keyring
  lxcfs xfsprogs zstd
)
# Only for the test suite (`setup.sh --test`, which `npm test` runs): Debian's chromium (and a
# font) for the dashboard's browser tests, driven by playwright-core; no browser is downloaded.
# clang-14 and its libFuzzer/sanitizer runtimes: the fuzz targets of the tar parsers (npm run fuzz).
# systemd: systemctl --root and systemd-analyze check `atoll service` (no systemd init needed).
test_packages=(chromium fonts-dejavu-core clang-14 libclang-rt-14-dev systemd)
if [[ " $* " == *" --test "* ]]; then apt_packages+=("${test_packages[@]}"); fi
# Only for `npm run test:vm` (`setup.sh --vm`): QEMU boots its cgroup v2 guest; xz-utils unpacks
# the guest kernel (docs/testing.md).
if [[ " $* " == *" --vm "* ]]; then apt_packages+=(qemu-system-x86 xz-utils); fi
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${apt_packages[@]}" 2>/dev/null | awk '$2 == "ii" { print $1 }' || true)
missing=()
for p in "${apt_packages[@]}"; do
  grep -qx "$p" <<<"$installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  ok "system packages (cached)"
else
  doing "installing system packages: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ok "system packages (installed ${missing[*]})"
fi

# --- 2. npm dependencies ----------------------------------------------------------------------
# Native addons (better-sqlite3) compile against the system's Node headers; no prebuilt
# binaries are downloaded.
export npm_config_nodedir=/usr
export npm_config_build_from_source=true
if [[ ! -d node_modules || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  doing "npm ci (compiles better-sqlite3 from source: about 2 minutes)"
  npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed (errors above)"
  ok "npm dependencies (installed)"
elif ! node -e 'new (require("better-sqlite3"))(":memory:").close()' 2>/dev/null; then
  doing "npm rebuild better-sqlite3 (its native addon is missing or stale)"
  npm rebuild better-sqlite3 --loglevel=error
  ok "npm dependencies (better-sqlite3 rebuilt)"
else
  ok "npm dependencies (cached)"
fi

# --- 3. build -----------------------------------------------------------------------------------
# Always run: tsc -b and make are incremental, so this is quick when nothing changed.
npm run --silent build || die "build failed (errors above)"
ok "build (TypeScript + native helpers)"

# --- 4. sandbox id range ----------------------------------------------------------------------------
# The host ids sandboxes run as (docs/operations.md, "The sandbox id range"): refuses when the host
# gave any of them to a user (/etc/subuid, /etc/subgid, passwd, group), else reserves them in
# /etc/subuid and /etc/subgid so useradd never hands them out. Prints its own "✓" line and the
# base; honours ATOLL_STATE_DIR, ATOLL_UID_BASE.
uid_base=$(node packages/server/dist/host/uid-range-cli.js) || die "the sandbox id range cannot be used on this host (reason and fix above)"

# --- 5. base image --------------------------------------------------------------------------------
# Prints its own "✓ base image ..." line; skips when the image of the current recipe exists. An
# image for another uid base is derived from one already built (seconds, no download).
# Honours ATOLL_IMAGES_DIR.
node packages/server/dist/image/build-image-cli.js --uid-base "$uid_base" || die "base image build failed (errors above)"

# --- 6. host check --------------------------------------------------------------------------------
# `atoll doctor` (docs/operations.md): kernel features, cgroups, host tools, the native helpers,
# the state directory and its disk. When the daemon could not run, setup stops with the doctor's
# report (each ✘ with its fix); warnings are shown and setup goes on. Honours the same ATOLL_*
# variables as `atoll serve`. Test daemons pick their own ports, so `--test` and `--vm` skip the API port.
doctor_args=()
if [[ " $* " == *" --test "* || " $* " == *" --vm "* ]]; then doctor_args+=(--listen 127.0.0.1:0); fi
if report=$(node packages/server/dist/cli/main.js doctor "${doctor_args[@]}"); then
  grep '^⚠' <<<"$report" || true
  ok "host check (atoll doctor: $(grep -o '[0-9]* ok, .*' <<<"$report" | tail -1))"
else
  printf '%s\n' "$report" >&2
  die "this host cannot run the Atoll daemon: fix the ✘ lines above (atoll doctor checks again)"
fi

elapsed_ms=$((($(date +%s%N) - started) / 1000000))
ok "setup done in $((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000)) | cut -c1)s"
