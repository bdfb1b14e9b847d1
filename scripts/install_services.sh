#!/usr/bin/env bash
# Install the local services streamproc's tests and users need:
#   * redis-server  - from Debian's packages (apt-get), if not already on PATH
#   * GStreamer's RTSP server for the system python3 (Debian, apt-get), which the
#                     RTSP tests run as a helper process (scripts/rtsp_server.py)
#   * Apache Kafka  - the broker jars (kafka_2.13, kafka-tools and their runtime
#                     dependencies) fetched from Maven Central with `mvn`, into
#                     $STREAMPROC_SERVICES_HOME/kafka-<VERSION>/libs/, and Kafka's
#                     command-line tools (kafka-topics.sh, kafka-consumer-groups.sh, ...)
#                     as scripts in kafka-<VERSION>/bin/
#
# Idempotent and fast on reruns: redis is skipped when `redis-server` is on
# PATH, Kafka when its marker file (kafka-<VERSION>/.installed) exists.
# Needs only Java and Maven (plus apt-get for redis) on a fresh machine.
#
# Environment:
#   STREAMPROC_SERVICES_HOME  default: $HOME/.cache/streamproc/services
#   STREAMPROC_KAFKA_VERSION  default: 3.9.1
#
# Progress goes to stderr; stdout stays quiet so callers can capture it.
set -euo pipefail

SERVICES_HOME="${STREAMPROC_SERVICES_HOME:-$HOME/.cache/streamproc/services}"
KAFKA_VERSION="${STREAMPROC_KAFKA_VERSION:-3.9.1}"
KAFKA_HOME="$SERVICES_HOME/kafka-$KAFKA_VERSION"
KAFKA_MARKER="$KAFKA_HOME/.installed"
# Logging for the broker: Kafka 3.x logs through slf4j -> log4j 1.x API, which
# Apache ships as reload4j. (Kafka 4.x moved to log4j2; see README-services.md.)
SLF4J_VERSION="${STREAMPROC_SLF4J_VERSION:-1.7.36}"
RELOAD4J_VERSION="${STREAMPROC_RELOAD4J_VERSION:-1.2.25}"

log() { printf '[install_services] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --------------------------------------------------------------------- redis
redis_version() { redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p'; }

# apt_install WHAT PACKAGE...: apt-get install, as root or through sudo, trying the
# current package lists first and refreshing them only if that fails. A temporary
# policy-rc.d (only where the machine has none) keeps packages' init scripts from
# starting system services (a system-wide redis on 6379 would collide with ours).
apt_install() {
    local what=$1
    shift
    command -v apt-get >/dev/null 2>&1 || die "$what is missing and apt-get is not available; install: $*"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install $*"
        sudo="sudo"
    fi
    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        $sudo sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
        made_policy=1
    fi
    local ok=0
    if [ -n "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' || true)" ]; then
        log "installing $what with apt-get (current package lists): $*"
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 && ok=1
    fi
    if [ "$ok" -eq 0 ]; then
        log "running apt-get update"
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        log "installing $what with apt-get: $*"
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 && ok=1
    fi
    if [ "$made_policy" -eq 1 ]; then
        $sudo rm -f /usr/sbin/policy-rc.d
    fi
    [ "$ok" -eq 1 ] || die "apt-get install $* failed"
}

install_redis() {
    if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
        log "redis-server already installed: $(command -v redis-server) ($(redis_version))"
        return 0
    fi
    apt_install redis-server redis-server
    command -v redis-server >/dev/null 2>&1 || die "redis-server still not on PATH after installing"
    log "installed redis-server $(redis_version)"
}

# --------------------------------------------------------------------- rtsp
# scripts/rtsp_server.py: the bindings (python3-gi, the RTSP server's typelib), JPEG
# frames in (plugins-good: multifilesrc, jpegparse, jpegdec), H.264 out (plugins-ugly:
# x264enc; plugins-good: rtph264pay). The client side is OpenCV's own FFmpeg.
RTSP_PACKAGES="python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly"
RTSP_PROBE="import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); from gi.repository import Gst, GstRtspServer; Gst.init(None); assert all(Gst.ElementFactory.find(e) for e in ('x264enc', 'rtph264pay', 'jpegdec', 'jpegparse', 'multifilesrc'))"

install_rtsp() {
    if /usr/bin/python3 -c "$RTSP_PROBE" >/dev/null 2>&1; then
        log "GStreamer RTSP server already installed for /usr/bin/python3"
        return 0
    fi
    # shellcheck disable=SC2086  # the package list is meant to split
    apt_install "GStreamer's RTSP server" $RTSP_PACKAGES
    /usr/bin/python3 -c "$RTSP_PROBE" >/dev/null 2>&1 || die "GStreamer's RTSP server still not usable from /usr/bin/python3 after installing $RTSP_PACKAGES"
    log "installed GStreamer's RTSP server ($RTSP_PACKAGES)"
}

# --------------------------------------------------------------------- kafka
# Kafka's command-line tools, as scripts of their own (the release tarball's bin/ is not on
# Maven Central): each runs its class from the jars above with a quiet log4j config.
#   name                      class (Kafka 3.9)
KAFKA_TOOLS="
kafka-topics.sh             org.apache.kafka.tools.TopicCommand
kafka-consumer-groups.sh    org.apache.kafka.tools.consumer.group.ConsumerGroupCommand
kafka-console-consumer.sh   org.apache.kafka.tools.consumer.ConsoleConsumer
kafka-console-producer.sh   kafka.tools.ConsoleProducer
kafka-get-offsets.sh        org.apache.kafka.tools.GetOffsetShell
kafka-configs.sh            kafka.admin.ConfigCommand
"

write_kafka_tools() {
    local bin="$KAFKA_HOME/bin" name class
    mkdir -p "$bin"
    printf '%s\n' \
        'log4j.rootLogger=WARN, stderr' \
        'log4j.appender.stderr=org.apache.log4j.ConsoleAppender' \
        'log4j.appender.stderr.Target=System.err' \
        'log4j.appender.stderr.layout=org.apache.log4j.PatternLayout' \
        'log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n' \
        >"$bin/tools-log4j.properties"
    while read -r name class; do
        [ -n "$name" ] || continue
        printf '%s\n' \
            '#!/usr/bin/env bash' \
            "# Kafka's $name, as in the Apache release; written by streamproc's install_services.sh." \
            "exec \"\${STREAMPROC_JAVA:-java}\" -Dlog4j.configuration=file:$bin/tools-log4j.properties \\" \
            "  -cp '$KAFKA_HOME/libs/*' $class \"\$@\"" \
            >"$bin/$name"
        chmod +x "$bin/$name"
    done <<<"$KAFKA_TOOLS"
}

install_kafka() {
    if [ -f "$KAFKA_MARKER" ] && [ -d "$KAFKA_HOME/libs" ] \
        && [ -f "$KAFKA_HOME/libs/kafka-tools-$KAFKA_VERSION.jar" ]; then
        write_kafka_tools
        log "Kafka $KAFKA_VERSION already installed in $KAFKA_HOME ($(ls "$KAFKA_HOME/libs" | wc -l) jars)"
        return 0
    fi
    command -v java >/dev/null 2>&1 || die "java not found on PATH (Kafka needs Java 11+)"
    command -v mvn >/dev/null 2>&1 || die "mvn not found on PATH (used to fetch Kafka from Maven Central)"

    log "fetching Kafka $KAFKA_VERSION (org.apache.kafka:kafka_2.13) and its runtime dependencies from Maven Central"
    mkdir -p "$SERVICES_HOME"
    local work
    work="$(mktemp -d "$SERVICES_HOME/.kafka-install.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" EXIT

    cat >"$work/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.streamproc</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- the broker (kafka.Kafka) and the KRaft storage tool (kafka.tools.StorageTool) -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <!-- the command-line tools (topics, consumer groups, console consumer, offsets) -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <!-- logging backend so the broker writes its log to a file -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>${SLF4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>ch.qos.reload4j</groupId>
      <artifactId>reload4j</artifactId>
      <version>${RELOAD4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
EOF

    local mvn_log="$work/mvn.log"
    if ! (cd "$work" && mvn -B -q \
            org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
            -DincludeScope=runtime \
            -DoutputDirectory="$work/libs" >"$mvn_log" 2>&1); then
        tail -n 40 "$mvn_log" >&2 || true
        die "mvn could not fetch Kafka $KAFKA_VERSION (does that version exist on Maven Central?)"
    fi
    [ -f "$work/libs/kafka_2.13-$KAFKA_VERSION.jar" ] || die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn run"

    # Sanity check: the classes we launch must be on the classpath.
    local tool_out
    if ! tool_out="$(java -cp "$work/libs/*" kafka.tools.StorageTool random-uuid 2>&1)"; then
        printf '%s\n' "$tool_out" >&2
        die "downloaded Kafka jars do not run (kafka.tools.StorageTool random-uuid failed)"
    fi

    mkdir -p "$KAFKA_HOME"
    rm -rf "$KAFKA_HOME/libs"
    mv "$work/libs" "$KAFKA_HOME/libs"
    printf 'kafka_version=%s\ninstalled_at=%s\njars=%s\n' \
        "$KAFKA_VERSION" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(ls "$KAFKA_HOME/libs" | wc -l)" >"$KAFKA_MARKER"
    rm -rf "$work"
    trap - EXIT
    write_kafka_tools
    log "installed Kafka $KAFKA_VERSION: $(ls "$KAFKA_HOME/libs" | wc -l) jars in $KAFKA_HOME/libs, tools in $KAFKA_HOME/bin"
}

install_redis
install_rtsp
install_kafka
log "done (services home: $SERVICES_HOME)"
