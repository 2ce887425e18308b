"""sipclient.py - a minimal SIP-over-TLS client for pushrelay's tests.

  send FILE [N]       send FILE, print N responses (head and body)
  idle SECS           TCP connect, send nothing: print seconds until the
                      server closes (exit 5 if still open after SECS)
  trickle SECS STEP   TLS, then one byte of an endless header every STEP s:
                      print seconds until the server closes (5: still open)
  sendidle FILE SECS  send FILE, read one response, then print seconds until
                      the server closes the idle connection (5: still open)
  ping                send a CRLF CRLF keep-alive (RFC 5626), expect a CRLF
                      pong: prints "pong"
  stream FILE [close|answer]
                      send FILE while reading what comes back (the server
                      may stop reading mid-way); print the first response's
                      head, or NORESPONSE. close (default): then wait for
                      the server to close and print EOF; answer: return
                      once the head is in
  hold N SECS         open N TLS connections, send OPTIONS on each, print per
                      connection "ok" (200 seen) or "refused", keep them open
                      SECS seconds
Environment: PR_HOST, PR_PORT, PR_CA, PR_CERT/PR_KEY ("" = no client cert),
PR_TIMEOUT (seconds to wait for each response; default 60, a ceiling a slow
machine does not reach: "hold" reports "refused" only for a connection the
server closed or reset, never for a slow one).
"send" writes the whole FILE at once: the relay reads a burst in one go and
counts it in one rate-limit second.
Exit codes: 0 done, 3 TLS handshake refused, 4 closed before a full
response, 5 timeout.
"""
import os, select, socket, ssl, sys, time

HOST = os.environ.get("PR_HOST", "127.0.0.1")
PORT = int(os.environ["PR_PORT"])
TIMEOUT = float(os.environ.get("PR_TIMEOUT", "60"))

def tls_connect():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.environ["PR_CA"])
    if os.environ.get("PR_CERT"):
        ctx.load_cert_chain(os.environ["PR_CERT"], os.environ["PR_KEY"])
    s = socket.create_connection((HOST, PORT), TIMEOUT)
    return ctx.wrap_socket(s, server_hostname="push.example.net")

def read_response(s, buf):
    """Returns (response bytes, rest) or (None, buf) on EOF."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    clen = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            clen = int(value.strip() or 0)
    while len(rest) < clen:
        chunk = s.recv(65536)
        if not chunk:
            return None, buf
        rest += chunk
    return head + b"\r\n\r\n" + rest[:clen], rest[clen:]

def closed_after(s, secs, step=None, feed=b""):
    start = time.monotonic()
    s.settimeout(step or secs)
    i = 0
    while time.monotonic() - start < secs:
        try:
            if s.recv(4096) == b"":
                break
        except socket.timeout:
            if step is not None:
                try:
                    s.sendall(feed[i % len(feed):i % len(feed) + 1])
                except OSError:
                    break
                i += 1
            continue
        except (OSError, ssl.SSLError):
            break
    else:
        print("open after %.1f" % secs)
        return 5
    print("%.1f" % (time.monotonic() - start))
    return 0

def stream(data, mode):
    s = tls_connect()
    # One thread drives both directions (an SSL object is not safe to share
    # between threads): send while the server reads, read what it answers.
    s.setblocking(False)
    buf, off, eof = b"", 0, False
    while not eof and (mode == "close" or b"\r\n\r\n" not in buf):
        r, w, _ = select.select([s], [s] if off < len(data) else [], [], TIMEOUT)
        if not r and not w:
            print("TIMEOUT after:", buf.decode("utf-8", "replace"))
            return 5
        if w:
            try:
                off += s.send(data[off:off + 16384])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
            except OSError:
                off = len(data)     # the server stopped reading and closed
        while r:
            try:
                chunk = s.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            except OSError:
                chunk = b""         # a reset after the answer still ends the connection
            if not chunk:
                eof = True
                break
            buf += chunk
            r = s.pending() > 0
    head = buf.split(b"\r\n\r\n", 1)[0]
    print(head.decode("utf-8", "replace") if head else "NORESPONSE")
    if mode == "close":
        print("EOF")
    return 0

def main():
    mode = sys.argv[1]
    try:
        if mode == "send":
            data = open(sys.argv[2], "rb").read()
            n = int(sys.argv[3]) if len(sys.argv) > 3 else 1
            s = tls_connect()
            s.sendall(data)
            buf = b""
            for _ in range(n):
                resp, buf = read_response(s, buf)
                if resp is None:
                    print("CLOSED: connection closed before a full response")
                    return 4
                sys.stdout.write(resp.decode("utf-8", "replace"))
                sys.stdout.flush()
            s.close()
            return 0
        if mode == "sendidle":
            s = tls_connect()
            s.sendall(open(sys.argv[2], "rb").read())
            resp, _ = read_response(s, b"")
            if resp is None:
                print("CLOSED: connection closed before a full response")
                return 4
            return closed_after(s, float(sys.argv[3]))
        if mode == "stream":
            return stream(open(sys.argv[2], "rb").read(),
                          sys.argv[3] if len(sys.argv) > 3 else "close")
        if mode == "ping":
            s = tls_connect()
            s.sendall(b"\r\n\r\n")
            got = s.recv(16)
            print("pong" if got.startswith(b"\r\n") else "no pong: %r" % got)
            return 0 if got.startswith(b"\r\n") else 4
        if mode == "idle":
            s = socket.create_connection((HOST, PORT), TIMEOUT)
            return closed_after(s, float(sys.argv[2]))
        if mode == "trickle":
            s = tls_connect()
            feed = b"OPTIONS sip:push@push.example.net SIP/2.0\r\nX-Slow: " + b"a" * 64
            return closed_after(s, float(sys.argv[2]), float(sys.argv[3]), feed)
        if mode == "hold":
            n, secs = int(sys.argv[2]), float(sys.argv[3])
            conns = []
            for i in range(n):
                req = ("OPTIONS sip:push@push.example.net SIP/2.0\r\n"
                       "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKhold%d\r\n"
                       "Max-Forwards: 70\r\nFrom: <sip:mcx@contoso.com>;tag=h%d\r\n"
                       "To: <sip:push@push.example.net>\r\nCall-ID: hold-%d@test\r\n"
                       "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n") % (i, i, i)
                try:
                    s = tls_connect()
                    s.sendall(req.encode())
                    resp, _ = read_response(s, b"")
                    ok = resp is not None and resp.startswith(b"SIP/2.0 200")
                except socket.timeout:
                    raise  # slow is not refused: the caller sees TIMEOUT
                except (OSError, ssl.SSLError):
                    ok, s = False, None
                print("ok" if ok else "refused")
                sys.stdout.flush()
                conns.append(s)
            time.sleep(secs)
            return 0
    except ssl.SSLError as e:
        print("TLS-ERROR: %s" % e)
        return 3
    except ConnectionResetError as e:
        print("TLS-ERROR: reset: %s" % e)
        return 3
    except socket.timeout:
        print("TIMEOUT")
        return 5
    print("usage: sipclient.py send|sendidle|stream|idle|trickle|ping|hold ...", file=sys.stderr)
    return 2

sys.exit(main())
