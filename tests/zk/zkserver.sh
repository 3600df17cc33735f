#!/usr/bin/env bash
# A private standalone ZooKeeper server for the tests, from Debian's
# `zookeeper` package and without systemd (see DESIGN.md):
#   zkserver.sh start DIR [PORT]  zoo.cfg, data and log in DIR, on a free
#                                 loopback port (or PORT, or the one DIR used
#                                 before); waits for `ruok` -> `imok`; prints
#                                 127.0.0.1:<port>
#   zkserver.sh stop DIR          SIGTERM to the server DIR's pid file names
#                                 (SIGKILL after 10 s); waits until it is gone
#   zkserver.sh restart DIR       stop, then start on the same port
# The data survives stop/start (sessions too, as with a real restart).
set -euo pipefail

cmd=${1:-}; dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop|restart DIR [PORT]" >&2; exit 2
fi
# zookeeper.jar's manifest names its dependencies; the slf4j binding and
# log4j (configured by conf_example/log4j.properties) make the server log
# to DIR/zk.log.
classpath=/etc/zookeeper/conf_example:/usr/share/java/zookeeper.jar
classpath+=:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar

imok() {  # port
  local r=""
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf ruok >&3
  read -r -t 2 r <&3 || true
  exec 3<&- 3>&-
  [ "$r" = imok ]
}

running() {
  [ -f "$dir/zk.pid" ] && kill -0 "$(cat "$dir/zk.pid")" 2>/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop() {
  running || { rm -f "$dir/zk.pid"; return 0; }
  local pid; pid=$(cat "$dir/zk.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/zk.pid"; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$dir/zk.pid"
}

start() {
  if ! command -v java >/dev/null || [ ! -e /usr/share/java/zookeeper.jar ]; then
    echo "zkserver: needs java and Debian's zookeeper package (scripts/install-deps.sh)" >&2
    return 1
  fi
  mkdir -p "$dir/data"
  local port=${1:-}
  [ -n "$port" ] || port=$(cat "$dir/port" 2>/dev/null || true)
  [ -n "$port" ] || port=$(free_port)
  echo "$port" >"$dir/port"
  if running && imok "$port" 2>/dev/null; then
    echo "127.0.0.1:$port"; return 0
  fi
  cat >"$dir/zoo.cfg" <<EOF
tickTime=500
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
minSessionTimeout=1000
maxSessionTimeout=60000
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
EOF
  # setsid: not in the caller's process group, so a test runner that
  # signals its group does not take the server down by accident.
  # 1 GiB heap: the server keeps its last 500 writes in memory (it refuses
  # a smaller zookeeper.commitLogCount), ~450 MB with uncompressed 900 KiB
  # chunks (the benchmark's uncompressed runs).
  setsid java -Xmx1g \
    -Dzookeeper.root.logger=INFO,CONSOLE \
    -Dzookeeper.log.dir="$dir" -Dzookeeper.jmx.log4j.disable=true -cp "$classpath" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" \
    >>"$dir/zk.log" 2>&1 </dev/null &
  echo $! >"$dir/zk.pid"
  for _ in $(seq 1 240); do
    if imok "$port" 2>/dev/null; then
      echo "127.0.0.1:$port"; return 0
    fi
    if ! running; then
      echo "zkserver: the server exited; last lines of $dir/zk.log:" >&2
      tail -20 "$dir/zk.log" >&2; return 1
    fi
    sleep 0.125
  done
  echo "zkserver: no imok from 127.0.0.1:$port after 30 s" >&2
  tail -20 "$dir/zk.log" >&2
  stop
  return 1
}

case $cmd in
  start) start "${3:-}" ;;
  stop) stop ;;
  restart) stop; start ;;
  *) echo "usage: $0 start|stop|restart DIR [PORT]" >&2; exit 2 ;;
esac
