# Start and stop real ZooKeeper servers (Debian's package) on loopback for
# tests. Source this file. Each server gets its own config and data dir
# under $ZK_WORK; zk_stop_all kills every server this shell started.
ZK_BIN=/usr/share/zookeeper/bin/zkServer.sh
ZK_PIDS=()

zk_available() { [ -x "$ZK_BIN" ] && command -v java >/dev/null; }

# zk_start N CLIENT_PORT [ENSEMBLE_SPEC]: server N; ENSEMBLE_SPEC is the
# server.N lines for an ensemble, empty for a standalone server.
zk_start() {
  local n=$1 port=$2 ensemble=${3:-}
  local dir=$ZK_WORK/zk$n
  mkdir -p "$dir/data"
  echo "$n" >"$dir/data/myid"
  cat >"$dir/zoo.cfg" <<CFG
tickTime=500
initLimit=20
syncLimit=10
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr,stat,ruok
$ensemble
CFG
  cp /etc/zookeeper/conf/log4j.properties "$dir/" 2>/dev/null || true
  ZOOCFGDIR=$dir ZOO_LOG_DIR=$dir ZOO_LOG4J_PROP="WARN,ROLLINGFILE" \
    setsid "$ZK_BIN" start-foreground "$dir/zoo.cfg" >"$dir/out.log" 2>&1 &
  ZK_PIDS+=($!)
  eval "ZK_PID_$n=$!"
}

# zk_wait_serving PORT SECONDS: until the server answers "srvr" as leader,
# follower or standalone.
zk_wait_serving() {
  local port=$1 secs=${2:-30} i
  for ((i = 0; i < secs * 5; i++)); do
    if { exec 3<>/dev/tcp/127.0.0.1/"$port"; } 2>/dev/null; then
      printf 'srvr' >&3
      if timeout 2 cat <&3 2>/dev/null | grep -qE 'Mode: (leader|follower|standalone)'; then
        exec 3<&- 3>&-; return 0
      fi
      exec 3<&- 3>&- 2>/dev/null
    fi
    sleep 0.2
  done
  return 1
}

zk_mode() {
  local port=$1
  { exec 3<>/dev/tcp/127.0.0.1/"$port"; } 2>/dev/null || return 1
  printf 'srvr' >&3
  timeout 2 cat <&3 | sed -n 's/^Mode: //p'
  exec 3<&- 3>&- 2>/dev/null
}

zk_stop() {
  local pid=$1
  kill -9 -- -"$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

zk_stop_all() {
  local p
  for p in "${ZK_PIDS[@]}"; do zk_stop "$p"; done
  ZK_PIDS=()
}
