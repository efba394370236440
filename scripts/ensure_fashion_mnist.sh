#!/usr/bin/env bash
# Makes sure Debian's Fashion-MNIST IDX files are present (the default preset's data).
set -euo pipefail
DIR=/usr/share/datasets/fashion-mnist
if ls "$DIR"/train-images-idx3-ubyte.gz >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "ganforge: installing Debian package dataset-fashion-mnist into $DIR"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
else
  echo "ganforge: Fashion-MNIST is missing from $DIR." >&2
  echo "  Install it with:  sudo apt-get install dataset-fashion-mnist" >&2
  echo "  or point a run at your own copy: --set data.root=/path/to/fashion-mnist" >&2
  exit 1
fi
