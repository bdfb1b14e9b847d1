"""Health check of one Kafka broker for scripts/cluster.sh: a Metadata (v4) request over
the wire protocol (stdlib only); prints the brokers the cluster has registered and
exits 0 when it answers with at least one."""

import socket
import struct
import sys

host, port = sys.argv[1].rsplit(":", 1)
cid = b"streamproc-cluster"
# header v1: api_key 3 (Metadata), api_version 4, correlation id, client id;
# body v4: topics [] (brokers only), allow_auto_topic_creation false
req = struct.pack(">hhih", 3, 4, 42, len(cid)) + cid + struct.pack(">ib", 0, 0)
s = socket.create_connection((host, int(port)), timeout=3)
s.settimeout(3)
s.sendall(struct.pack(">i", len(req)) + req)


def recv(n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit("connection closed")
        buf += chunk
    return buf


body = recv(struct.unpack(">i", recv(4))[0])
corr, _throttle, nbrokers = struct.unpack(">iii", body[:12])
if corr != 42 or nbrokers < 1:
    raise SystemExit("no brokers registered yet")
print(f"{nbrokers} broker(s) registered")
