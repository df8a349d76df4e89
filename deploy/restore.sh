#!/bin/sh
# Restores an archive made by backup.sh into a new data directory.
#
#   deploy/restore.sh ARCHIVE.tar.gz NEW_DATA_DIR
#
# NEW_DATA_DIR must not exist or be empty: a restore never mixes with another
# log. Check the restored log before starting anything on it:
#
#   tallylog export --log NEW_DATA_DIR --out check.bundle
#   tallylog audit check.bundle --root-key ROOT_PUBLIC_KEY     # exit 0: verified
#
# then start tallylog on NEW_DATA_DIR as before.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 ARCHIVE.tar.gz NEW_DATA_DIR" >&2
  exit 2
fi
archive=$1
data=$2

if [ -f "$archive.sha256" ]; then
  ( cd "$(dirname "$archive")" && sha256sum --check --quiet "$(basename "$archive").sha256" ) || {
    echo "error: $archive does not match its checksum" >&2
    exit 1
  }
else
  echo "warning: no $archive.sha256; restoring unchecked" >&2
fi
if [ -e "$data" ] && [ -n "$(ls -A "$data")" ]; then
  echo "error: $data is not empty; restore into a new directory" >&2
  exit 2
fi

umask 077
mkdir -p "$data"
tar --extract --gzip --same-permissions --file "$archive" --directory "$data"
sync
echo "restored $archive into $data; audit it before starting (see the top of $0)"
