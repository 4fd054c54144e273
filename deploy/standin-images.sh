#!/usr/bin/env bash
# Local stand-ins for the official base images, for machines that cannot pull from an image
# registry. The committed Dockerfile and docker-compose.yml name the official images
# (python:3.11-slim-bookworm, nginx:1.28-alpine); `make test-compose` passes these instead
# through GRADWIRE_PYTHON_IMAGE / GRADWIRE_NGINX_IMAGE when a pull fails.
#
# Both come from one debootstrap of Debian bookworm (Python 3.11, like the official image; nginx-light
# has the gRPC and HTTP/2 modules), imported twice with the official images' conventions:
#   python stand-in: `python` and `pip` on PATH, pip allowed to install into the system
#   nginx stand-in:  conf.d/*.conf included, access log to stdout, `nginx -g 'daemon off;'`
# The Debian mirror is the one apt on this machine already uses, and the certificate authorities the
# ones this machine trusts. Images that exist are kept (`docker rmi` them to rebuild).
set -euo pipefail

PYTHON_IMAGE=${GRADWIRE_PYTHON_IMAGE:-gradwire-standin/python:3.11-bookworm}
NGINX_IMAGE=${GRADWIRE_NGINX_IMAGE:-gradwire-standin/nginx:bookworm}

have() { docker image inspect "$1" >/dev/null 2>&1; }
if have "$PYTHON_IMAGE" && have "$NGINX_IMAGE"; then
  echo "stand-in images present: $PYTHON_IMAGE $NGINX_IMAGE"; exit 0
fi

mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
         | grep -oE '^(URIs:|deb)\s+\S+/debian/?(\s|$)' | awk '{print $2}' | head -n1 || true)
[ -n "$mirror" ] || { echo "no Debian mirror in apt's sources" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null

root=$(mktemp -d /var/tmp/gradwire-rootfs.XXXXXX)
chmod 755 "$root"      # the image's /: mktemp made it private to root
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-pip,python-is-python3,ca-certificates,nginx-light \
  bookworm "$root" "$mirror" >/dev/null
# Trust what this machine trusts (its package registries may sit behind its own certificate authority).
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
# The official python image's pip installs into its interpreter; Debian's refuses (PEP 668).
rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
ln -sf /usr/bin/pip3 "$root/usr/local/bin/pip"
# The official nginx image: only conf.d, logs on the container's stdout/stderr.
rm -f "$root"/etc/nginx/sites-enabled/*
ln -sf /dev/stdout "$root/var/log/nginx/access.log"
ln -sf /dev/stderr "$root/var/log/nginx/error.log"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["python3"]' - "$PYTHON_IMAGE" >/dev/null
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["nginx", "-g", "daemon off;"]' - "$NGINX_IMAGE" >/dev/null
echo "built stand-in images: $PYTHON_IMAGE $NGINX_IMAGE"
