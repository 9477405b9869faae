#!/usr/bin/env bash
# A local base image for the Dockerfile (`--build-arg BASE_IMAGE=...`) on machines that reach no
# container registry: Debian bookworm (Python 3.11) made with mmdebstrap from the machine's Debian
# mirror, carrying the machine's own CA certificates (a TLS-inspecting proxy's included, so pip can
# reach PyPI during the image build) and a pip.conf pointing at them.
#
#   scripts/base-image.sh            # prints the image name, e.g. localhost/regpipe-base:bookworm-1a2b3c4d5e6f
#
# The root filesystem is cached as a tarball under ${XDG_CACHE_HOME:-~/.cache}/regpipe, keyed by
# this script and the CA certificates, so a rerun (or a fresh clone on the same machine) only
# imports it, or does nothing when the engine already holds the image.
# Environment: REGPIPE_CONTAINER_ENGINE (podman, else docker), DEBIAN_MIRROR (default: the first
# Debian URI in the machine's apt sources), REGPIPE_CACHE_DIR.
set -euo pipefail

engine=${REGPIPE_CONTAINER_ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}
cache=${REGPIPE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/regpipe}
packages=python3,python3-venv,ca-certificates
ca_dir=/usr/local/share/ca-certificates

if [ -z "${DEBIAN_MIRROR:-}" ]; then
  DEBIAN_MIRROR=$(grep -rhoE '(URIs:|^deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list \
    /etc/apt/sources.list.d/ 2>/dev/null | awk '{print $2; exit}' || true)
  DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
fi
# An apt proxy configured for the machine (Acquire::http::Proxy) serves mmdebstrap's apt too.
if [ -z "${http_proxy:-}" ]; then
  eval "$(apt-config shell http_proxy Acquire::http::Proxy 2>/dev/null || true)"
  [ -n "${http_proxy:-}" ] && export http_proxy
fi

key=$( { cat "$0"; echo "$packages"; cat "$ca_dir"/*.crt 2>/dev/null || true; } \
  | sha256sum | cut -c1-12)
image=localhost/regpipe-base:bookworm-$key
tarball=$cache/base-bookworm-$key.tar

if "$engine" image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi
if [ ! -f "$tarball" ]; then
  mkdir -p "$cache"
  rm -f "$tarball.partial"
  echo "base image: building Debian bookworm from $DEBIAN_MIRROR (a few minutes, once)" >&2
  # force-unsafe-io: no fsync per unpacked file (the tarball is written once, at the end);
  # documentation and translations are not needed in a service image.
  mmdebstrap --quiet --format=tar --variant=minbase --include="$packages" --skip=output/dev \
    --dpkgopt=force-unsafe-io \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook="mkdir -p \"\$1$ca_dir\"; cp $ca_dir/*.crt \"\$1$ca_dir/\" 2>/dev/null || true" \
    --customize-hook='chroot "$1" update-ca-certificates >/dev/null' \
    --customize-hook='printf "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n" > "$1/etc/pip.conf"' \
    bookworm "$tarball.partial" "$DEBIAN_MIRROR" >&2
  mv "$tarball.partial" "$tarball"
fi
"$engine" import --change 'CMD ["python3"]' "$tarball" "$image" >/dev/null
echo "$image"
