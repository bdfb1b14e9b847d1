#!/usr/bin/env bash
# Local services for streamproc: a single-node Apache Kafka broker (KRaft,
# combined broker+controller) and a redis-server, both bound to 127.0.0.1.
#
#   scripts/services.sh start    install if needed, start both, wait until ready,
#                                print the export lines (idempotent)
#   scripts/services.sh stop     stop both (SIGTERM, then SIGKILL after a timeout)
#   scripts/services.sh status   say what runs (exit 0 only if both are healthy)
#   scripts/services.sh env      print the export lines
#
# Usage:  eval "$(scripts/services.sh start)"
# Only the `export ...` lines go to stdout; all other output goes to stderr.
# See scripts/README-services.md for paths, ports and environment variables.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVICES_HOME="${STREAMPROC_SERVICES_HOME:-$HOME/.cache/streamproc/services}"
KAFKA_VERSION="${STREAMPROC_KAFKA_VERSION:-3.9.1}"
KAFKA_HOME="$SERVICES_HOME/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
RUN_DIR="$SERVICES_HOME/run"
PORTS_FILE="$RUN_DIR/ports.env"

REDIS_DIR="$RUN_DIR/redis"
REDIS_DATA="$REDIS_DIR/data"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"

KAFKA_DIR="$RUN_DIR/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_LOGS="$KAFKA_DIR/logs"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_LOG4J="$KAFKA_DIR/log4j.properties"
KAFKA_TOOLS_LOG4J="$KAFKA_DIR/tools-log4j.properties"
KAFKA_CLUSTER_ID_FILE="$KAFKA_DIR/cluster.id"
KAFKA_SERVER_LOG="$KAFKA_LOGS/server.log"
KAFKA_STDOUT="$KAFKA_LOGS/kafka.out"

JAVA="${STREAMPROC_JAVA:-java}"
PYTHON="${STREAMPROC_PYTHON:-python3}"
KAFKA_HEAP_OPTS="${STREAMPROC_KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
KAFKA_MESSAGE_MAX_BYTES="${STREAMPROC_KAFKA_MESSAGE_MAX_BYTES:-16777216}"
START_TIMEOUT="${STREAMPROC_SERVICES_TIMEOUT:-90}"
STOP_TIMEOUT="${STREAMPROC_SERVICES_STOP_TIMEOUT:-60}"

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ------------------------------------------------------------------ ports
# start: env var, else (while one of the services still runs) the ports the
# last `start` recorded, else default.  stop/status/env: env var, else the
# recorded ports, else default.
REC_REDIS_PORT="" REC_KAFKA_PORT="" REC_KAFKA_CONTROLLER_PORT=""
if [ -f "$PORTS_FILE" ]; then
    # shellcheck disable=SC1090
    . "$PORTS_FILE"
fi
set_ports() {
    local mode="$1"
    if [ "$mode" = start ] && ! { redis_pid >/dev/null || kafka_pid >/dev/null; }; then
        REDIS_PORT="${STREAMPROC_REDIS_PORT:-6379}"
        KAFKA_PORT="${STREAMPROC_KAFKA_PORT:-9092}"
        KAFKA_CONTROLLER_PORT="${STREAMPROC_KAFKA_CONTROLLER_PORT:-9093}"
    else
        REDIS_PORT="${STREAMPROC_REDIS_PORT:-${REC_REDIS_PORT:-6379}}"
        KAFKA_PORT="${STREAMPROC_KAFKA_PORT:-${REC_KAFKA_PORT:-9092}}"
        KAFKA_CONTROLLER_PORT="${STREAMPROC_KAFKA_CONTROLLER_PORT:-${REC_KAFKA_CONTROLLER_PORT:-9093}}"
    fi
}

print_env() {
    echo "export STREAMPROC_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT"
    echo "export STREAMPROC_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
    # Kafka's command-line tools (kafka-topics.sh, kafka-consumer-groups.sh, ...)
    echo "export STREAMPROC_KAFKA_BIN=$KAFKA_HOME/bin"
}

# ------------------------------------------------------------------ helpers
# pid from a pidfile, only if that process is alive and is the expected program
pid_of() {
    local pidfile="$1" pattern="$2" pid
    [ -f "$pidfile" ] || return 1
    pid="$(tr -dc '0-9' <"$pidfile" 2>/dev/null || true)"
    [ -n "$pid" ] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern" || return 1
    echo "$pid"
}
redis_pid() { pid_of "$REDIS_PID" redis-server; }
kafka_pid() { pid_of "$KAFKA_PID" kafka.Kafka; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

redis_healthy() {
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null || true)" = PONG ]
}

# A real Metadata (v4) request over the Kafka wire protocol, python stdlib only.
# Succeeds when the broker answers with at least one registered broker.
KAFKA_METADATA_CHECK='
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
cid = b"streamproc-services"
# header v1: api_key=3 (Metadata), api_version=4, correlation_id, client_id
# body v4: topics=[] (no topics: just brokers), allow_auto_topic_creation=false
req = struct.pack(">hhih", 3, 4, 42, len(cid)) + cid + struct.pack(">ib", 0, 0)
s = socket.create_connection((host, port), timeout=5)
s.settimeout(5)
s.sendall(struct.pack(">i", len(req)) + req)
def recv(n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit("connection closed")
        buf += chunk
    return buf
size = struct.unpack(">i", recv(4))[0]
body = recv(size)
corr, _throttle, nbrokers = struct.unpack(">iii", body[:12])
if corr != 42 or nbrokers < 1:
    raise SystemExit("no brokers registered yet")
node_id = struct.unpack(">i", body[12:16])[0]
hlen = struct.unpack(">h", body[16:18])[0]
print("broker %d at %s:%d" % (node_id, body[18:18 + hlen].decode(), struct.unpack(">i", body[18 + hlen:22 + hlen])[0]))
'
kafka_healthy() {
    port_open "$KAFKA_PORT" || return 1
    if command -v "$PYTHON" >/dev/null 2>&1; then
        "$PYTHON" -c "$KAFKA_METADATA_CHECK" 127.0.0.1 "$KAFKA_PORT" >/dev/null 2>&1
    else
        # no python: the port answers and the broker logged that it started
        grep -q "Kafka Server started" "$KAFKA_SERVER_LOG" 2>/dev/null
    fi
}

# stop a process: SIGTERM, wait, then SIGKILL
stop_pid() {
    local name="$1" pid="$2" timeout="$3" i
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 5; i++)); do
        kill -0 "$pid" 2>/dev/null || { log "$name stopped"; return 0; }
        sleep 0.2
    done
    log "$name did not stop within ${timeout}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    log "$name killed"
}

ensure_installed() {
    if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 \
        && [ -f "$KAFKA_HOME/.installed" ] && [ -d "$KAFKA_LIBS" ]; then
        return 0
    fi
    log "services not installed yet: running scripts/install_services.sh"
    STREAMPROC_SERVICES_HOME="$SERVICES_HOME" STREAMPROC_KAFKA_VERSION="$KAFKA_VERSION" \
        bash "$SCRIPT_DIR/install_services.sh" >&2
}

# ------------------------------------------------------------------ redis
start_redis() {
    local pid
    if pid="$(redis_pid)"; then
        log "redis already running (pid $pid)"
        return 0
    fi
    rm -f "$REDIS_PID"
    if port_open "$REDIS_PORT"; then
        die "port $REDIS_PORT is already in use by another process (not ours); set STREAMPROC_REDIS_PORT or stop it"
    fi
    mkdir -p "$REDIS_DATA"
    log "starting redis-server on 127.0.0.1:$REDIS_PORT (log: $REDIS_LOG)"
    # Persistence: append-only file (fsync every second), no RDB snapshots, so
    # per-camera thresholds survive a stop/start.  Delete $REDIS_DATA to reset.
    redis-server \
        --daemonize yes \
        --bind 127.0.0.1 \
        --port "$REDIS_PORT" \
        --protected-mode yes \
        --dir "$REDIS_DATA" \
        --pidfile "$REDIS_PID" \
        --logfile "$REDIS_LOG" \
        --save "" \
        --appendonly yes \
        --appendfsync everysec \
        --maxmemory 512mb \
        --maxmemory-policy noeviction \
        </dev/null >/dev/null 2>&1 \
        || die "redis-server failed to start; see $REDIS_LOG"
}

wait_redis() {
    local deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if redis_healthy; then
            log "redis ready on 127.0.0.1:$REDIS_PORT"
            return 0
        fi
        if [ -f "$REDIS_PID" ] && ! redis_pid >/dev/null; then
            tail -n 20 "$REDIS_LOG" >&2 2>/dev/null || true
            die "redis-server exited during startup; see $REDIS_LOG"
        fi
        sleep 0.2
    done
    tail -n 20 "$REDIS_LOG" >&2 2>/dev/null || true
    die "redis did not answer PING on port $REDIS_PORT within ${START_TIMEOUT}s; see $REDIS_LOG"
}

# ------------------------------------------------------------------ kafka
write_kafka_config() {
    mkdir -p "$KAFKA_DATA" "$KAFKA_LOGS"
    cat >"$KAFKA_PROPS" <<EOF
# Generated by scripts/services.sh - edits are overwritten on every start.
# Single-node KRaft: this process is both the broker and the controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DATA

# single node: every replication factor / ISR is 1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
default.replication.factor=1
min.insync.replicas=1
num.partitions=1

# the application creates its own topics
auto.create.topics.enable=false
delete.topic.enable=true
group.initial.rebalance.delay.ms=0

# frame windows can be larger than the 1 MiB default
message.max.bytes=$KAFKA_MESSAGE_MAX_BYTES
replica.fetch.max.bytes=$KAFKA_MESSAGE_MAX_BYTES

# small machine: few threads, small buffers, bounded retention
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=16777216
log.retention.hours=24
log.retention.bytes=1073741824
log.segment.bytes=134217728
EOF
    cat >"$KAFKA_LOG4J" <<EOF
# Generated by scripts/services.sh: broker logs go to files in $KAFKA_LOGS
log4j.rootLogger=INFO, kafkaAppender

log4j.appender.kafkaAppender=org.apache.log4j.RollingFileAppender
log4j.appender.kafkaAppender.File=$KAFKA_SERVER_LOG
log4j.appender.kafkaAppender.MaxFileSize=20MB
log4j.appender.kafkaAppender.MaxBackupIndex=3
log4j.appender.kafkaAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.kafkaAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.stateChangeAppender=org.apache.log4j.RollingFileAppender
log4j.appender.stateChangeAppender.File=$KAFKA_LOGS/state-change.log
log4j.appender.stateChangeAppender.MaxFileSize=10MB
log4j.appender.stateChangeAppender.MaxBackupIndex=2
log4j.appender.stateChangeAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.stateChangeAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel\$=WARN
log4j.logger.kafka.log.LogCleaner=INFO
log4j.logger.state.change.logger=INFO, stateChangeAppender
log4j.additivity.state.change.logger=false
log4j.logger.kafka.authorizer.logger=WARN
EOF
    cat >"$KAFKA_TOOLS_LOG4J" <<EOF
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

format_kafka_storage() {
    if [ -f "$KAFKA_DATA/meta.properties" ]; then
        return 0
    fi
    local cluster_id
    if [ -s "$KAFKA_CLUSTER_ID_FILE" ]; then
        cluster_id="$(cat "$KAFKA_CLUSTER_ID_FILE")"
    else
        cluster_id="$("$JAVA" -Dlog4j.configuration="file:$KAFKA_TOOLS_LOG4J" -cp "$KAFKA_LIBS/*" \
            kafka.tools.StorageTool random-uuid 2>>"$KAFKA_STDOUT" | tail -n 1)"
        [ -n "$cluster_id" ] || die "could not generate a cluster id; see $KAFKA_STDOUT"
        echo "$cluster_id" >"$KAFKA_CLUSTER_ID_FILE"
    fi
    log "formatting Kafka KRaft storage in $KAFKA_DATA (cluster id $cluster_id)"
    "$JAVA" -Dlog4j.configuration="file:$KAFKA_TOOLS_LOG4J" -cp "$KAFKA_LIBS/*" \
        kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_PROPS" --ignore-formatted \
        >>"$KAFKA_STDOUT" 2>&1 \
        || { tail -n 20 "$KAFKA_STDOUT" >&2; die "Kafka storage format failed; see $KAFKA_STDOUT"; }
}

start_kafka() {
    local pid
    if pid="$(kafka_pid)"; then
        log "Kafka already running (pid $pid)"
        return 0
    fi
    rm -f "$KAFKA_PID"
    command -v "$JAVA" >/dev/null 2>&1 || die "java not found (set STREAMPROC_JAVA)"
    local p
    for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
        if port_open "$p"; then
            die "port $p is already in use by another process (not ours); set STREAMPROC_KAFKA_PORT / STREAMPROC_KAFKA_CONTROLLER_PORT or stop it"
        fi
    done
    write_kafka_config
    format_kafka_storage
    log "starting Kafka $KAFKA_VERSION (KRaft) on 127.0.0.1:$KAFKA_PORT, controller :$KAFKA_CONTROLLER_PORT (log: $KAFKA_SERVER_LOG)"
    {
        echo "===== $(date -u +%Y-%m-%dT%H:%M:%SZ) starting Kafka $KAFKA_VERSION"
    } >>"$KAFKA_STDOUT"
    # own session (setsid) so the broker outlives the calling shell; all fds
    # redirected so `eval "$(services.sh start)"` does not wait on it.
    # shellcheck disable=SC2086
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PID" \
        "$JAVA" $KAFKA_HEAP_OPTS \
        -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExitOnOutOfMemoryError -XX:ParallelGCThreads=2 -XX:ConcGCThreads=1 \
        -Djava.awt.headless=true \
        -Dkafka.logs.dir="$KAFKA_LOGS" \
        -Dlog4j.configuration="file:$KAFKA_LOG4J" \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS" \
        </dev/null >>"$KAFKA_STDOUT" 2>&1 &
    # wait for the pidfile written by the child
    local i
    for ((i = 0; i < 50; i++)); do
        [ -s "$KAFKA_PID" ] && break
        sleep 0.1
    done
}

wait_kafka() {
    local deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if kafka_healthy; then
            log "Kafka ready on 127.0.0.1:$KAFKA_PORT"
            return 0
        fi
        if ! kafka_pid >/dev/null; then
            sleep 0.5
            if ! kafka_pid >/dev/null; then
                tail -n 30 "$KAFKA_STDOUT" >&2 2>/dev/null || true
                tail -n 30 "$KAFKA_SERVER_LOG" >&2 2>/dev/null || true
                die "Kafka exited during startup; see $KAFKA_SERVER_LOG and $KAFKA_STDOUT"
            fi
        fi
        sleep 0.5
    done
    tail -n 30 "$KAFKA_SERVER_LOG" >&2 2>/dev/null || true
    die "Kafka not ready on port $KAFKA_PORT within ${START_TIMEOUT}s; see $KAFKA_SERVER_LOG and $KAFKA_STDOUT"
}

# ------------------------------------------------------------------ commands
cmd_start() {
    set_ports start
    # already running?  refuse to silently hand out the wrong ports
    if redis_pid >/dev/null || kafka_pid >/dev/null; then
        if [ -n "$REC_REDIS_PORT" ] && { [ "$REC_REDIS_PORT" != "$REDIS_PORT" ] \
            || [ "$REC_KAFKA_PORT" != "$KAFKA_PORT" ] \
            || [ "$REC_KAFKA_CONTROLLER_PORT" != "$KAFKA_CONTROLLER_PORT" ]; }; then
            die "services already running on redis:$REC_REDIS_PORT kafka:$REC_KAFKA_PORT/$REC_KAFKA_CONTROLLER_PORT; run '$0 stop' first to change ports"
        fi
    fi
    if redis_pid >/dev/null && kafka_pid >/dev/null && redis_healthy && kafka_healthy; then
        log "redis and Kafka already running and healthy"
        print_env
        return 0
    fi
    ensure_installed
    mkdir -p "$RUN_DIR"
    printf 'REC_REDIS_PORT=%s\nREC_KAFKA_PORT=%s\nREC_KAFKA_CONTROLLER_PORT=%s\n' \
        "$REDIS_PORT" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" >"$PORTS_FILE"
    local t0=$SECONDS
    start_redis
    start_kafka
    wait_redis
    wait_kafka
    log "services up in $((SECONDS - t0))s"
    print_env
}

cmd_stop() {
    set_ports stop
    local pid any=0
    if pid="$(kafka_pid)"; then
        stop_pid Kafka "$pid" "$STOP_TIMEOUT"
        any=1
    fi
    rm -f "$KAFKA_PID"
    if pid="$(redis_pid)"; then
        stop_pid redis "$pid" 20
        any=1
    fi
    rm -f "$REDIS_PID"
    [ "$any" -eq 1 ] || log "nothing running"
}

cmd_status() {
    set_ports status
    local pid rc=0
    if pid="$(redis_pid)"; then
        if redis_healthy; then
            log "redis: running (pid $pid), healthy on 127.0.0.1:$REDIS_PORT"
        else
            log "redis: running (pid $pid) but not answering PING on 127.0.0.1:$REDIS_PORT (log: $REDIS_LOG)"
            rc=1
        fi
    else
        log "redis: stopped"
        rc=1
    fi
    if pid="$(kafka_pid)"; then
        if kafka_healthy; then
            log "kafka: running (pid $pid), healthy on 127.0.0.1:$KAFKA_PORT (version $KAFKA_VERSION)"
        else
            log "kafka: running (pid $pid) but not ready on 127.0.0.1:$KAFKA_PORT (log: $KAFKA_SERVER_LOG)"
            rc=1
        fi
    else
        log "kafka: stopped"
        rc=1
    fi
    return "$rc"
}

cmd_env() {
    set_ports env
    print_env
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *)
        echo "usage: $0 {start|stop|status|env}" >&2
        exit 2
        ;;
esac
