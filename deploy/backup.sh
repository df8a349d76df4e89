#!/bin/sh
# Backs up a stopped tallylog data directory (`tallylog up --data DIR`, or a
# ledger's --data beside its nats-server's store) into one archive.
#
#   deploy/backup.sh DATA_DIR ARCHIVE.tar.gz
#
# The directory must not be in use: stop tallylog first (`systemctl stop
# tallylog-up`, or the ledger and its nats-server). A copy taken while the
# ledger appends, or while nats-server writes its stream files, can be torn;
# stopping makes the copy exact. The script refuses when the ledger's store is
# locked (sled holds an exclusive lock on ledger/db while the ledger runs).
#
# The archive holds the log's signing key (DATA_DIR/log.key) when it lives in
# the data directory: it is written 0600, and must be kept like the key.
# A checksum goes beside it (ARCHIVE.tar.gz.sha256), checked by restore.sh.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 DATA_DIR ARCHIVE.tar.gz" >&2
  exit 2
fi
data=$1
out=$2

if [ ! -d "$data" ]; then
  echo "error: $data is not a directory" >&2
  exit 2
fi
for store in "$data/ledger/db" "$data/gateway/db" "$data/db"; do
  if [ -f "$store" ] && ! flock --nonblock --shared "$store" true 2>/dev/null; then
    echo "error: $store is locked: tallylog is running. Stop it (and its nats-server) first." >&2
    exit 1
  fi
done

umask 077
tmp="$out.partial"
rm -f "$tmp"
# Numeric owners and the files' own modes, so that a restore as the same
# service user gets the same private files.
tar --create --gzip --numeric-owner --file "$tmp" --directory "$data" .
sync "$tmp" 2>/dev/null || sync
mv "$tmp" "$out"
( cd "$(dirname "$out")" && sha256sum "$(basename "$out")" > "$(basename "$out").sha256" )
echo "backed up $data to $out ($(wc -c < "$out") bytes)"
