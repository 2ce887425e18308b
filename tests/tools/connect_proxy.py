#!/usr/bin/env python3
"""connect_proxy.py - a small HTTP CONNECT proxy for tests (python3 stdlib).

Listens on 127.0.0.1, prints "ready <port>" on stdout once it accepts
connections, and for each "CONNECT host:port HTTP/1.1" either opens a tunnel
or refuses:

  --map NAME=ADDR     resolve NAME to ADDR (tests name providers that only
                      the proxy can reach); every target must end on
                      127.0.0.1 or ::1, anything else is refused with 403
  --refuse-file F     while F exists, answer every CONNECT with the status
                      written in it (e.g. "407"), Proxy-Authenticate included
  --auth USER:PASS    require Proxy-Authorization: Basic for USER:PASS (407)
  --count-file F      one line per tunnel opened: "<host:port>", appended
  --log-file F        one line per CONNECT: "<host:port> <status> <auth>",
                      where <auth> is "basic-ok", "basic-bad" or "none"

A refusal closes the client connection after the answer. Stops on SIGTERM.
"""
import argparse
import asyncio
import base64
import os
import signal
import sys

REASONS = {403: "Forbidden", 407: "Proxy Authentication Required", 502: "Bad Gateway",
           503: "Service Unavailable"}
LOOPBACK = ("127.0.0.1", "::1")


def append(path, line):
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def answer(writer, status, extra=""):
    writer.write(("HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\n\r\n"
                  % (status, REASONS.get(status, "Refused"), extra)).encode())
    try:
        await writer.drain()
    except ConnectionError:
        pass
    writer.close()


async def handle(args, reader, writer):
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
            ConnectionError):
        writer.close()
        return
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if len(parts) != 3 or parts[0] != "CONNECT" or not parts[2].startswith("HTTP/1."):
        await answer(writer, 400)
        return
    target = parts[1]
    auth = headers.get("proxy-authorization")
    auth_state = "none"
    if auth is not None:
        want = "Basic " + base64.b64encode((args.auth or "").encode()).decode()
        auth_state = "basic-ok" if args.auth and auth == want else "basic-bad"

    status = 200
    if args.refuse_file and os.path.exists(args.refuse_file):
        with open(args.refuse_file, encoding="utf-8") as f:
            text = f.read().strip()
        status = int(text) if text.isdigit() else 407
    elif args.auth and auth_state != "basic-ok":
        status = 407
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    addr = args.map.get(host, host)
    if status == 200 and (addr not in LOOPBACK or not port.isdigit()):
        status = 403
    up_reader = up_writer = None
    if status == 200:
        try:
            up_reader, up_writer = await asyncio.open_connection(addr, int(port))
        except OSError:
            status = 502
    append(args.log_file, "%s %d %s" % (target, status, auth_state))
    if status != 200:
        extra = 'Proxy-Authenticate: Basic realm="test"\r\n' if status == 407 else ""
        await answer(writer, status, extra)
        return
    append(args.count_file, target)
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    try:
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
    except asyncio.CancelledError:
        pass                            # stopping: the tunnels close with the process


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--map", action="append", default=[])
    ap.add_argument("--refuse-file")
    ap.add_argument("--auth")
    ap.add_argument("--count-file")
    ap.add_argument("--log-file")
    args = ap.parse_args()
    args.map = dict(m.split("=", 1) for m in args.map)

    server = await asyncio.start_server(lambda r, w: handle(args, r, w), "127.0.0.1", args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    port = server.sockets[0].getsockname()[1]
    print("ready %d" % port, flush=True)
    async with server:
        await stop.wait()
    server.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
