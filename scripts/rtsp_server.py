#!/usr/bin/env python3
"""A small RTSP server for tests and demos: a folder of JPEG frames, looped, as H.264.

    /usr/bin/python3 scripts/rtsp_server.py --frames DIR [--port 8554] [--path /cam] [--fps 10]
        [--transport any|tcp|udp] [--auth USER:PASSWORD]

Serves rtsp://127.0.0.1:PORT/PATH. The frames (DIR/000.jpg, 001.jpg, ... numbered from 0
without gaps, all of one size) play at ``--fps`` and loop forever with continuous
timestamps, as a camera or a server looping a clip does: the wrap shows only in the
picture. Prints ``READY <url>`` on stdout once it listens; SIGTERM or SIGINT stops it,
so a test stops and starts it again to make an outage.

It runs under the system Python, which has GStreamer's bindings (Debian: python3-gi,
gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good and -ugly for x264enc;
scripts/install_services.sh installs them), not under the project's virtualenv.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def launch_line(frames: Path, fps: int) -> str:
    # jpegparse timestamps each frame from the caps' rate, so the stream is paced at
    # ``fps`` and its clock runs on over the loop; a short GOP lets a client that joins
    # (or rejoins) decode within a second; no B-frames keeps the latency at one frame.
    location = str(frames / "%03d.jpg")
    return (
        f'( multifilesrc location="{location}" index=0 loop=true '
        f'caps="image/jpeg,framerate={fps}/1" ! jpegparse ! jpegdec ! videoconvert '
        f"! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=ultrafast "
        f"key-int-max={fps} bframes=0 ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=Path, required=True, help="folder of 000.jpg, 001.jpg, ...")
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--path", default="/cam")
    ap.add_argument("--fps", type=int, default=10)
    ap.add_argument(
        "--transport",
        choices=("any", "tcp", "udp"),
        default="any",
        help="RTP transports offered: a camera that speaks only UDP or only TCP (interleaved)",
    )
    ap.add_argument("--auth", metavar="USER:PASSWORD", help="require Basic authentication")
    args = ap.parse_args(argv)
    if not (args.frames / "000.jpg").is_file():
        print(
            f"error: {args.frames}/000.jpg not found; --frames needs 000.jpg, 001.jpg, ...",
            file=sys.stderr,
        )
        return 2
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.frames.resolve(), args.fps))
    factory.set_shared(True)  # every client sees the one looping stream, as from a camera
    lower = GstRtsp.RTSPLowerTrans
    offered = {"any": lower.UDP | lower.UDP_MCAST | lower.TCP, "tcp": lower.TCP, "udp": lower.UDP}
    factory.set_protocols(offered[args.transport])  # a SETUP for another gets an error
    if args.auth:
        user, _, password = args.auth.partition(":")
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        role = Gst.Structure.new_empty("viewer")
        role.set_value("media.factory.access", True)
        role.set_value("media.factory.construct", True)
        permissions.add_role_from_structure(role)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"error: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY rtsp://127.0.0.1:{args.port}{args.path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
