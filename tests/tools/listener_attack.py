"""listener_attack.py (test_listener_memory.sh): opens the hostile connections, prints how many of each it
holds open at once, then closes them all."""
import os, socket, ssl, sys

HOST, PORT = "127.0.0.1", int(os.environ["PR_PORT"])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(os.environ["PR_CA"])
ctx.load_cert_chain(os.environ["PR_CERT"], os.environ["PR_KEY"])
RLINE = b"MESSAGE sip:push@push.example.net;pn-provider=apns SIP/2.0\r\n"

def tls():
    s = ctx.wrap_socket(socket.create_connection((HOST, PORT), 60),
                        server_hostname="push.example.net")
    s.settimeout(60)
    return s

held, counts = [], {}
def note(kind, s):
    held.append(s)
    counts[kind] = counts.get(kind, 0) + 1

for i in range(250):        # slowloris: ~15 kB of header lines, no blank line
    s = tls()
    s.sendall(RLINE + b"".join(b"X-Slow%d: %s\r\n" % (j, b"s" * 1000) for j in range(15)))
    note("slowloris-15k", s)
for i in range(150):        # a request line trickled in, never finished
    s = tls()
    s.sendall(b"MESSAGE sip:push@push.exa")
    note("partial-request", s)
for i in range(100):        # a TLS record header and a piece of its body: a stalled handshake
    s = socket.create_connection((HOST, PORT), 60)
    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64))
    note("stalled-handshake", s)
for i in range(100):        # garbage instead of a ClientHello: refused at once
    s = socket.create_connection((HOST, PORT), 60)
    s.sendall(b"GET / HTTP/1.1\r\nHost: relay\r\n" + b"x" * 2000)
    note("garbage-handshake", s)
for i in range(50):         # a 100 kB header line: answered 413 and closed by the relay
    s = tls()
    try:
        s.sendall(RLINE + b"X-Big: " + b"b" * 100000)
    except (OSError, ssl.SSLError):
        pass
    note("long-line", s)
print(" ".join("%s=%d" % kv for kv in sorted(counts.items())), "total=%d" % len(held))
sys.stdout.flush()
# The relay holds the slow ones open; prove they were all open at once.
sys.stdin.readline()
for s in held:
    try:
        s.close()
    except OSError:
        pass
