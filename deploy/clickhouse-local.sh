#!/usr/bin/env bash
#! Runs a throw-away local ClickHouse server for the quickstart and the tests: installs Debian's
#! clickhouse-server if absent, writes its own config under DIR, listens on 127.0.0.1 only.
#
#   deploy/clickhouse-local.sh install
#   deploy/clickhouse-local.sh start DIR [HTTP_PORT] [TCP_PORT]   # prints the HTTP url on stdout
#   deploy/clickhouse-local.sh stop DIR
#
# CLICKHOUSE_LOG_QUERIES=1 turns on system.query_log (tests/run.sh: the suite's queries are replayed on chDB).
# CLICKHOUSE_HTTPS_PORT=PORT with CLICKHOUSE_TLS_CERT=cert.pem and CLICKHOUSE_TLS_KEY=key.pem (PEM files)
# also serves HTTPS on PORT (tests/it/tls.rs); the url printed stays the plain-HTTP one.
set -euo pipefail

server_bin() {
  command -v clickhouse-server 2>/dev/null || { [ -x /usr/sbin/clickhouse-server ] && echo /usr/sbin/clickhouse-server; } \
    || command -v clickhouse 2>/dev/null || true
}

install() {
  if [ -n "$(server_bin)" ]; then return 0; fi
  echo "clickhouse-local: installing clickhouse-server from the distribution's packages" >&2
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clickhouse-server clickhouse-client >&2
}

free_port() { # a random high port nothing listens on (bash only: no python or curl needed)
  local p
  while :; do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! ( { exec 3<>"/dev/tcp/127.0.0.1/$p"; } 2>/dev/null ); then echo "$p"; return; fi
  done
}

ping_http() { # GET /ping without curl
  local reply
  reply=$( { exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /ping HTTP/1.0\r\n\r\n' >&3 && cat <&3; } 2>/dev/null ) || return 1
  [[ "$reply" == *"Ok."* ]]
}

https_config() { # the <https_port> and <openSSL> server settings, when CLICKHOUSE_HTTPS_PORT is set
  [ -n "${CLICKHOUSE_HTTPS_PORT:-}" ] || return 0
  : "${CLICKHOUSE_TLS_CERT:?CLICKHOUSE_HTTPS_PORT needs CLICKHOUSE_TLS_CERT}" "${CLICKHOUSE_TLS_KEY:?CLICKHOUSE_HTTPS_PORT needs CLICKHOUSE_TLS_KEY}"
  cat <<XML
  <https_port>$CLICKHOUSE_HTTPS_PORT</https_port>
  <openSSL><server>
    <certificateFile>$CLICKHOUSE_TLS_CERT</certificateFile><privateKeyFile>$CLICKHOUSE_TLS_KEY</privateKeyFile>
    <verificationMode>none</verificationMode><loadDefaultCAFile>false</loadDefaultCAFile>
    <cacheSessions>true</cacheSessions><disableProtocols>sslv2,sslv3</disableProtocols><preferServerCiphers>true</preferServerCiphers>
  </server></openSSL>
XML
}

start() {
  local dir=$1 http=${2:-} tcp=${3:-}
  install
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null && [ -f "$dir/url" ]; then
    cat "$dir/url"   # already running from an earlier start
    return 0
  fi
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
  dir=$(cd "$dir" && pwd)
  [ -n "$http" ] || http=$(free_port)
  [ -n "$tcp" ] || tcp=$(free_port)
  cat > "$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/server.err.log</errorlog><size>100M</size><count>2</count></logger>
  <http_port>$http</http_port>
  <tcp_port>$tcp</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <max_concurrent_queries>200</max_concurrent_queries>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <timezone>UTC</timezone>
$(https_config)
</yandex>
XML
  cat > "$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage><log_queries>${CLICKHOUSE_LOG_QUERIES:-0}</log_queries></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
  local bin; bin=$(server_bin)
  if [ "$(basename "$bin")" = clickhouse ]; then set -- "$bin" server; else set -- "$bin"; fi
  nohup "$@" --config-file="$dir/config.xml" > "$dir/log/stdout.log" 2>&1 &
  echo $! > "$dir/pid"
  echo "http://127.0.0.1:$http" > "$dir/url"
  echo "$tcp" > "$dir/tcp_port"
  for _ in $(seq 1 150); do
    if ping_http "$http"; then echo "http://127.0.0.1:$http"; return 0; fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "clickhouse-local: server in $dir did not come up; last log lines:" >&2
  tail -n 20 "$dir/log/server.err.log" "$dir/log/stdout.log" >&2 || true
  return 1
}

stop() {
  local dir=$1 pid
  [ -f "$dir/pid" ] || return 0
  pid=$(cat "$dir/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || { rm -f "$dir/pid"; return 0; }; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/pid"
}

cmd=${1:-}; shift || true
case "$cmd" in
  install) install ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  *) echo "usage: $0 install | start DIR [HTTP_PORT] [TCP_PORT] | stop DIR" >&2; exit 2 ;;
esac
