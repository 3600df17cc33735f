#!/usr/bin/env bash
# Installs, from Debian 12's archive only, what building and testing
# quobyte-mesos needs. Idempotent: packages already present are skipped, and
# apt is not even asked when nothing is missing.
#   scripts/install-deps.sh            build + test + local cluster (with the
#                                      ZooKeeper client and server the store
#                                      and its tests need; bindfs: the FUSE
#                                      mount the hung-disk test pauses;
#                                      clang + libclang-rt-14-dev (its
#                                      sanitizer and libFuzzer runtimes,
#                                      only recommended by clang): the
#                                      libFuzzer targets; chromium:
#                                      headless, the status page e2e test
#                                      renders the page's DOM with it;
#                                      openssl: the TLS tests (bus, REST, https
#                                      masters) make throwaway CAs with it;
#                                      prometheus: its promtool checks the
#                                      coordinator's /metrics in the e2e
#                                      metrics test)
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libnng-dev libmbedtls-dev libcurl4-openssl-dev libcjson-dev
  libprotobuf-c-dev protobuf-c-compiler
  libudev-dev libblkid-dev libcriterion-dev
  libzookeeper-mt-dev zookeeper zlib1g-dev python3-kazoo
  udev util-linux mount kmod e2fsprogs xfsprogs
  python3 procps iproute2 curl openssl
  bindfs clang libclang-rt-14-dev
  chromium
  libmicrohttpd-dev
  prometheus
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
