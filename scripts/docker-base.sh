#!/usr/bin/env bash
# Bootstraps a Debian 12 base image with Python 3.11 (the minor version of the lock) from Debian's packages,
# for machines that reach Debian's archive but no image registry:  scripts/docker-base.sh [IMAGE]
# The machine's CA bundle ($PIP_CERT or $SSL_CERT_FILE, when one is configured) goes into the image and pip
# is pointed at it, so that pip inside builds trusts what pip here trusts.
set -euo pipefail
image=${1:-grokking-base:bookworm}
if docker image inspect "$image" >/dev/null 2>&1; then
    echo "base image $image exists"
    exit 0
fi
command -v mmdebstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq mmdebstrap >/dev/null; }
tarball=$(mktemp --suffix=.tar)
trap 'rm -f "$tarball"' EXIT
ca=${PIP_CERT:-${SSL_CERT_FILE:-}}
hooks=()
changes=(--change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]')
if [ -n "$ca" ] && [ -f "$ca" ]; then
    hooks=(--customize-hook="mkdir -p \"\$1/usr/local/share/ca\" && cp '$ca' \"\$1/usr/local/share/ca/bundle.crt\"")
    changes+=(--change 'ENV PIP_CERT=/usr/local/share/ca/bundle.crt')
fi
# passwd: useradd; make: the Dockerfile installs it again (pinned), a no-op here.
mmdebstrap --quiet --variant=apt --include=python3,python3-venv,make,passwd,ca-certificates \
    "${hooks[@]}" bookworm "$tarball"
docker import "${changes[@]}" "$tarball" "$image" >/dev/null
echo "base image $image: $(docker run --rm "$image" python3 --version)"
