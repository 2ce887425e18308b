#!/usr/bin/env python3
"""idleconn - holds N idle mutual-TLS SIP connections open to a listener, so
bench/run-idle.sh can read what each costs the listener in memory.

What it does: opens --count connections to 127.0.0.1:--port one after
another, each presenting the edge's client certificate and checking the
server's against --ca; on each it sends one OPTIONS and waits for the 200,
so the listener has accepted the edge as a federation peer and holds the
connection the way it holds a real, quiet edge. Then it prints
"tls VERSION" (what the last connection negotiated) and "ready N" on stdout and sends nothing more until SIGTERM or SIGINT, when
it closes them all and exits 0. (Not stdin: a script's background job has
/dev/null there.)

What it does not do: send MESSAGEs, CRLF keep-alives (a quiet edge within
idle_timeout_s sends none), or reconnect. Any failure exits 1 at once,
naming the connection, so a half-open run never reports a figure.

  idleconn.py --port P --cert edge.pem --key edge.key --ca ca.pem --count 2000 \
              [--tls-max 1.2]

--tls-max caps the protocol version (edges deployed today often speak TLS
1.2, which leaves the server a different set of state than 1.3); without
it, Python's default (TLS 1.3 against this listener).

Loopback only; --count is bounded by MAX_COUNT.
"""
import argparse
import os
import signal
import socket
import ssl
import sys

MAX_COUNT = 20000
HOST = "127.0.0.1"
TLS_MAX = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def options_request(i, run):
    return (f"OPTIONS sip:push@push.example.net SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bK-idle-{run}-{i}\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:mcx@contoso.com>;tag=idle{i}\r\n"
            f"To: <sip:push@push.example.net>\r\n"
            f"Call-ID: idle-{run}-{i}@edge.contoso.com\r\n"
            f"CSeq: 1 OPTIONS\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def read_response(s):
    """One SIP response: the head up to the blank line, then Content-Length bytes."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed before a response")
        buf += chunk
        if len(buf) > 65536:
            raise ConnectionError("response head too long")
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            length = int(value.strip())
    while len(rest) < length:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed inside a response body")
        rest += chunk
    return head.split(b"\r\n", 1)[0].decode(errors="replace")


def main():
    ap = argparse.ArgumentParser(description="hold N idle mutual-TLS SIP connections")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--tls-max", choices=sorted(TLS_MAX),
                    help="highest TLS version to offer (default: Python's)")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="seconds one connection may take to answer (default 60)")
    a = ap.parse_args()
    if not 1 <= a.count <= MAX_COUNT:
        ap.error(f"--count must be 1..{MAX_COUNT}")

    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.load_cert_chain(a.cert, a.key)
    if a.tls_max is not None:
        ctx.maximum_version = TLS_MAX[a.tls_max]
    run = os.getpid()
    conns = []

    def on_signal(*_):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for i in range(a.count):
        try:
            raw = socket.create_connection((HOST, a.port), timeout=a.timeout)
            s = ctx.wrap_socket(raw, server_hostname=HOST)
            s.sendall(options_request(i, run))
            status = read_response(s)
        except (OSError, ValueError) as e:
            print(f"idleconn: connection {i + 1} of {a.count}: {e}", file=sys.stderr)
            return 1
        if not status.startswith("SIP/2.0 200"):
            print(f"idleconn: connection {i + 1}: OPTIONS answered '{status}'", file=sys.stderr)
            return 1
        conns.append(s)
    print(f"tls {conns[-1].version()}", flush=True)
    print(f"ready {len(conns)}", flush=True)
    # Idle until a signal ends the process; the kernel closes the sockets.
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
