#!/usr/bin/env bash
#! Runs a throw-away two-shard ClickHouse cluster on loopback for the cluster storage profile: one
#! ZooKeeper (Debian's `zookeeper` package) and two clickhouse-server processes (one replica per shard),
#! each started by deploy/clickhouse-local.sh with a config.d/ override naming the cluster `custos_test`.
#
#   deploy/clickhouse-cluster.sh start DIR   # prints the two nodes' HTTP urls, one per line
#   deploy/clickhouse-cluster.sh stop DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
local_sh=$here/clickhouse-local.sh
cluster=custos_test

free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! ( { exec 3<>"/dev/tcp/127.0.0.1/$p"; } 2>/dev/null ); then echo "$p"; return; fi
  done
}

install_zookeeper() {
  [ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null && return 0
  echo "clickhouse-cluster: installing zookeeper from the distribution's packages" >&2
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq zookeeper >&2
}

zk_ok() { # ZooKeeper's four-letter `ruok`; bounded, as a server still starting may accept and never answer
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf ruok >&3 && cat <&3" 2>/dev/null | grep -q imok
}

start() {
  local dir=$1
  if [ -f "$dir/urls" ] && [ -f "$dir/zk/pid" ] && kill -0 "$(cat "$dir/zk/pid")" 2>/dev/null; then cat "$dir/urls"; return 0; fi
  install_zookeeper
  "$local_sh" install
  mkdir -p "$dir/zk/data"
  dir=$(cd "$dir" && pwd)
  local zk; zk=$(free_port)
  cat > "$dir/zk/zoo.cfg" <<CFG
tickTime=500
dataDir=$dir/zk/data
clientPort=$zk
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok
CFG
  nohup java -Xmx256m -cp /usr/share/java/zookeeper.jar org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zk/zoo.cfg" \
    > "$dir/zk/log" 2>&1 &
  echo $! > "$dir/zk/pid"
  for _ in $(seq 1 100); do zk_ok "$zk" && break; sleep 0.2; done
  zk_ok "$zk" || { echo "clickhouse-cluster: ZooKeeper did not come up" >&2; tail -n 20 "$dir/zk/log" >&2; return 1; }

  local http1 tcp1 http2 tcp2
  http1=$(free_port); tcp1=$(free_port); http2=$(free_port); tcp2=$(free_port)
  local n shard tcp
  for n in 1 2; do
    shard=0$n; tcp=$([ $n = 1 ] && echo "$tcp1" || echo "$tcp2")
    mkdir -p "$dir/node$n/config.d"
    cat > "$dir/node$n/config.d/cluster.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <interserver_http_port>$(free_port)</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <zookeeper><node><host>127.0.0.1</host><port>$zk</port></node><session_timeout_ms>30000</session_timeout_ms></zookeeper>
  <macros><shard>$shard</shard><replica>node$n</replica></macros>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
  <remote_servers>
    <$cluster>
      <shard><internal_replication>true</internal_replication><replica><host>127.0.0.1</host><port>$tcp1</port></replica></shard>
      <shard><internal_replication>true</internal_replication><replica><host>127.0.0.1</host><port>$tcp2</port></replica></shard>
    </$cluster>
  </remote_servers>
</yandex>
XML
  done
  "$local_sh" start "$dir/node1" "$http1" "$tcp1" > "$dir/url1"
  "$local_sh" start "$dir/node2" "$http2" "$tcp2" > "$dir/url2"
  cat "$dir/url1" "$dir/url2" > "$dir/urls"
  echo "$cluster" > "$dir/cluster"
  cat "$dir/urls"
}

stop() {
  local dir=$1
  "$local_sh" stop "$dir/node1" || true
  "$local_sh" stop "$dir/node2" || true
  if [ -f "$dir/zk/pid" ]; then kill "$(cat "$dir/zk/pid")" 2>/dev/null || true; rm -f "$dir/zk/pid"; fi
  rm -f "$dir/urls"
}

cmd=${1:-}; shift || true
case "$cmd" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  *) echo "usage: $0 start DIR | stop DIR" >&2; exit 2 ;;
esac
