"""Test hosts for remote-browser tests: network namespaces with a veth pair each, headless
Chromium inside, and nginx (TLS + bearer token) in front of one of them.

Each :class:`RemoteHost` is a network namespace ``sdr-<pid>-<i>`` joined to the root
namespace by a veth pair (``sdr<pid><i>h`` here, ``sdr<pid><i>n`` there) on a /30 of
10.231.0.0/16 that no interface of this machine uses (picked under a lock file, so two test
processes never share one): the root side is ``10.231.N.1``, the host ``10.231.N.2``. Traffic
goes only to those addresses.

Chromium's new headless mode binds DevTools to 127.0.0.1 whatever
``--remote-debugging-address`` says, as browser containers do; like their ``socat``, a small
forwarder (this file run as ``remote_hosts.py forward ...`` inside the namespace) exposes it
on the namespace's address, so the test process reaches ``http://10.231.N.2:9222``.

Everything is removed by :meth:`RemoteHost.close` (processes, namespace, veth, profile and
temp dirs), also after a failure; :func:`remove_stale` removes what a killed test run of
an earlier process left (names carry the pid). The commands are the ones docs/remote.md shows.
"""

from __future__ import annotations

import collections
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Tuple

CHROMIUM = os.environ.get("SYNCDP_TEST_CHROMIUM", "/usr/bin/chromium")
NGINX = "/usr/sbin/nginx"
PREFIX = "sdr"
DEVTOOLS_PORT = 9222
NGINX_PORT = 9443
TOKEN = "remote-test-token-7f3a"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_LOCK_PATH = os.path.join(tempfile.gettempdir(), "syncdp-remote-hosts.lock")


def run(*args: str, check: bool = True, timeout: float = 30.0) -> "subprocess.CompletedProcess[str]":
    """Run a command (``ip``, ``openssl``...), its output captured; raise if it fails."""
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(args), done.returncode, done.stderr.strip()))
    return done


def unavailable_reason() -> Optional[str]:
    """Why namespaces with Chromium cannot be made here, or None if they can."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces (ip netns)"
    if shutil.which("ip") is None:
        return "needs the ip command (iproute2)"
    if not os.path.exists(CHROMIUM):
        return "needs Chromium at %s" % CHROMIUM
    probe = "%s-probe-%d" % (PREFIX, os.getpid())
    done = run("ip", "netns", "add", probe, check=False)
    if done.returncode != 0:
        return "ip netns add failed: %s" % done.stderr.strip()
    run("ip", "netns", "del", probe, check=False)
    return None


def nginx_unavailable_reason() -> Optional[str]:
    """Why the nginx proxy cannot run here, or None if it can."""
    if not os.path.exists(NGINX):
        return "needs nginx at %s (Debian: apt-get install nginx, or .ci/ensure-nginx)" % NGINX
    if shutil.which("openssl") is None:
        return "needs the openssl command to make the test CA"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace_processes(namespace: str) -> None:
    for _ in range(50):  # bounded: Chromium may fork while we kill
        pids = [int(p) for p in run("ip", "netns", "pids", namespace, check=False).stdout.split()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def remove_stale() -> None:
    """Remove namespaces and veths of this prefix whose test process is gone."""
    for line in run("ip", "netns", "list", check=False).stdout.splitlines():
        match = re.match(r"(%s-(\d+)-\d+)" % PREFIX, line.strip())
        if match and not _pid_alive(int(match.group(2))):
            _kill_namespace_processes(match.group(1))
            run("ip", "netns", "del", match.group(1), check=False)
    for line in run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        match = re.match(r"\d+: (%s(\d+)\dh)[@:]" % PREFIX, line)
        if match and not _pid_alive(int(match.group(2))):
            run("ip", "link", "del", match.group(1), check=False)


def _used_subnets() -> List[int]:
    text = run("ip", "-o", "-4", "addr", "show", check=False).stdout
    return [int(n) for n in re.findall(r"inet 10\.231\.(\d+)\.\d+", text)]


class RemoteHost:
    """One namespace: a veth pair to here, Chromium inside (reached on ``addr:9222``).

    Attributes:
        addr: the host's address (``10.231.N.2``).
        url: ``http://addr:9222``.
        host_if: the root-side veth, which :meth:`link_down` sets down (a dead link, no FIN).
    """

    def __init__(self, index: int) -> None:
        self.index = index
        self.namespace = "%s-%d-%d" % (PREFIX, os.getpid(), index)
        self.host_if = "%s%d%dh" % (PREFIX, os.getpid(), index)
        self.ns_if = "%s%d%dn" % (PREFIX, os.getpid(), index)
        self.workdir = tempfile.mkdtemp(prefix="syncdp-remote-")
        self.subnet = -1
        self.addr = ""
        self.url = ""
        self.processes: Dict[str, "subprocess.Popen[bytes]"] = {}

    # -- the network ------------------------------------------------------------------------

    def create_network(self) -> None:
        """Namespace, veth pair and addresses (a free /30 chosen under a lock file)."""
        with open(_LOCK_PATH, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = set(_used_subnets())
            self.subnet = next(n for n in range(1, 255) if n not in used)
            self.addr = "10.231.%d.2" % self.subnet
            self.url = "http://%s:%d" % (self.addr, DEVTOOLS_PORT)
            run("ip", "netns", "add", self.namespace)
            run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            run("ip", "link", "set", self.ns_if, "netns", self.namespace)
            run("ip", "addr", "add", "10.231.%d.1/30" % self.subnet, "dev", self.host_if)
        run("ip", "link", "set", self.host_if, "up")
        self.ns("ip", "addr", "add", "%s/30" % self.addr, "dev", self.ns_if)
        self.ns("ip", "link", "set", self.ns_if, "up")
        self.ns("ip", "link", "set", "lo", "up")

    def ns(self, *args: str, check: bool = True) -> "subprocess.CompletedProcess[str]":
        """Run a command inside the namespace."""
        return run("ip", "netns", "exec", self.namespace, *args, check=check)

    def link_down(self) -> None:
        """The link dies silently: no FIN, no RST reaches either side."""
        run("ip", "link", "set", self.host_if, "down")

    def link_up(self) -> None:
        run("ip", "link", "set", self.host_if, "up")

    # -- processes ---------------------------------------------------------------------------

    def spawn(self, name: str, args: List[str]) -> "subprocess.Popen[bytes]":
        """Start ``args`` inside the namespace (its own process group, log in the work dir)."""
        with open(os.path.join(self.workdir, name + ".log"), "ab") as log:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace, *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as a whole
            )
        self.processes[name] = process
        return process

    def start_browser(self, timeout: float = 45.0) -> None:
        """Chromium (fresh profile) on the namespace's loopback, forwarded to ``addr:9222``."""
        profile = tempfile.mkdtemp(prefix="profile-", dir=self.workdir)
        self.spawn(
            "chromium",
            [CHROMIUM, *CHROMIUM_FLAGS, "--user-data-dir=%s" % profile,
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=%d" % DEVTOOLS_PORT,
             "about:blank"],
        )
        self.spawn(
            "forward",
            [sys.executable, os.path.abspath(__file__), "forward", self.addr, str(DEVTOOLS_PORT),
             "127.0.0.1", str(DEVTOOLS_PORT)],
        )
        self.wait_http(self.addr, DEVTOOLS_PORT, timeout)

    def start_forward(self, port: int, delay_ms: float, to_port: int = DEVTOOLS_PORT) -> str:
        """Another forwarder, from ``addr:port`` to ``127.0.0.1:to_port`` in the namespace
        (Chromium by default), every byte ``delay_ms`` later each way. Returns its URL."""
        self.spawn(
            "forward-%d" % port,
            [sys.executable, os.path.abspath(__file__), "forward", self.addr, str(port),
             "127.0.0.1", str(to_port), str(delay_ms)],
        )
        if to_port == DEVTOOLS_PORT:
            self.wait_http(self.addr, port, 30)
        return "http://%s:%d" % (self.addr, port)

    def wait_http(self, addr: str, port: int, timeout: float) -> None:
        """Poll ``/json/version`` until the browser answers through the link."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError("%s in %s exited: %s" % (name, self.namespace, self.log_tail(name)))
            try:
                with socket.create_connection((addr, port), timeout=2) as sock:
                    sock.sendall(b"GET /json/version HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n" % (addr.encode(), port))
                    sock.settimeout(5)
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise RuntimeError("no browser at %s:%d within %ss (%s): %s"
                           % (addr, port, timeout, last, self.log_tail("chromium")))

    def log_tail(self, name: str) -> str:
        try:
            with open(os.path.join(self.workdir, name + ".log"), "rb") as fh:
                return fh.read()[-1500:].decode("utf-8", "replace")
        except OSError:
            return ""

    def kill_browser(self) -> None:
        """The host goes away: Chromium and its forwarder SIGKILLed (the kernel closes their
        sockets), nginx left as it is."""
        for name in ("forward", "chromium"):
            self.stop_process(name, signal.SIGKILL)

    def stop_process(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    # -- nginx -------------------------------------------------------------------------------

    def start_nginx(self) -> str:
        """nginx on ``addr:9443``: TLS (a CA made here), a bearer token (header or
        ``?token=``), websocket upgrades proxied to Chromium. Returns the CA's PEM path."""
        certs = make_certificates(self.workdir, self.addr)
        prefix = os.path.join(self.workdir, "nginx")
        os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as fh:
            fh.write(NGINX_CONF % {"prefix": prefix, "addr": self.addr, "port": NGINX_PORT,
                                   "token": TOKEN, "cert": certs["cert"], "key": certs["key"],
                                   "upstream": "127.0.0.1:%d" % DEVTOOLS_PORT})
        self.spawn("nginx", [NGINX, "-p", prefix, "-c", conf, "-e", os.path.join(prefix, "error.log")])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.processes["nginx"].poll() is not None:
                raise RuntimeError("nginx exited: %s" % self.log_tail("nginx"))
            try:
                socket.create_connection((self.addr, NGINX_PORT), timeout=2).close()
                return certs["ca"]
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not listen on %s:%d" % (self.addr, NGINX_PORT))

    # -- the end -----------------------------------------------------------------------------

    def close(self) -> None:
        """Remove everything: processes, namespace, veth, temp dirs (idempotent)."""
        for name in list(self.processes):
            self.stop_process(name, signal.SIGKILL)
        _kill_namespace_processes(self.namespace)
        run("ip", "netns", "del", self.namespace, check=False)
        run("ip", "link", "del", self.host_if, check=False)  # gone with the namespace, normally
        shutil.rmtree(self.workdir, ignore_errors=True)


NGINX_CONF = """
daemon off;
master_process off;
pid %(prefix)s/nginx.pid;
error_log %(prefix)s/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %(prefix)s/tmp/body;
    proxy_temp_path %(prefix)s/tmp/proxy;
    fastcgi_temp_path %(prefix)s/tmp/fastcgi;
    uwsgi_temp_path %(prefix)s/tmp/uwsgi;
    scgi_temp_path %(prefix)s/tmp/scgi;
    map $http_upgrade $connection_upgrade { default upgrade; "" close; }
    map $http_authorization $auth_header { "Bearer %(token)s" 1; default 0; }
    map $arg_token $auth_query { "%(token)s" 1; default 0; }
    map "${auth_header}${auth_query}" $authorized { "00" 0; default 1; }
    server {
        listen %(addr)s:%(port)d ssl;
        ssl_certificate %(cert)s;
        ssl_certificate_key %(key)s;
        location / {
            if ($authorized = 0) { return 401; }
            proxy_pass http://%(upstream)s;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }
    }
}
"""


def make_certificates(directory: str, ip: str) -> Dict[str, str]:
    """A CA and a server certificate for ``ip`` signed by it (openssl CLI, EC keys)."""
    paths = {name: os.path.join(directory, name) for name in
             ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem", "ext.cnf")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", paths["ca.key"], "-out", paths["ca.pem"],
        "-days", "2", "-subj", "/CN=syncdp test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", *ec, "-keyout", paths["server.key"], "-out", paths["server.csr"], "-subj", "/CN=" + ip)
    with open(paths["ext.cnf"], "w") as fh:
        fh.write("subjectAltName=IP:%s\nbasicConstraints=critical,CA:FALSE\n"
                 "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                 "authorityKeyIdentifier=keyid,issuer\nsubjectKeyIdentifier=hash\n" % ip)
    run("openssl", "x509", "-req", "-in", paths["server.csr"], "-CA", paths["ca.pem"],
        "-CAkey", paths["ca.key"], "-CAcreateserial", "-out", paths["server.pem"], "-days", "2",
        "-extfile", paths["ext.cnf"])
    return {"ca": paths["ca.pem"], "cert": paths["server.pem"], "key": paths["server.key"]}


# -- the forwarder (run inside a namespace: remote_hosts.py forward ADDR PORT TO_ADDR TO_PORT [MS]) --


def _pump(source: socket.socket, sink: socket.socket, delay: float) -> None:
    """Copy ``source`` to ``sink``; with ``delay``, each chunk leaves ``delay`` s after it came
    (a writer thread releases them in order: the link keeps its bandwidth, only later)."""
    chunks: "collections.deque[Tuple[float, bytes]]" = collections.deque()
    ready = threading.Condition()

    def write() -> None:
        try:
            while True:
                with ready:
                    while not chunks:
                        ready.wait()
                    due, data = chunks.popleft()
                if not data:
                    break
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _shutdown(source, sink)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        while True:
            data = source.recv(262144)
            with ready:
                chunks.append((time.monotonic() + delay, data))
                ready.notify()
            if not data:
                break
    except OSError:
        with ready:
            chunks.append((0.0, b""))
            ready.notify()


def _shutdown(*socks: socket.socket) -> None:
    for sock in socks:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def forward(listen: Tuple[str, int], target: Tuple[str, int], delay_ms: float = 0.0) -> None:
    """Accept on ``listen`` and relay each connection to ``target`` (until killed), each way
    ``delay_ms`` later (a link's latency where the kernel has no netem)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(listen)
    server.listen(64)
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection(target, timeout=10)
        except OSError:
            client.close()
            continue
        upstream.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(source, sink, delay_ms / 1000.0), daemon=True).start()


if __name__ == "__main__" and len(sys.argv) in (6, 7) and sys.argv[1] == "forward":
    forward(
        (sys.argv[2], int(sys.argv[3])),
        (sys.argv[4], int(sys.argv[5])),
        float(sys.argv[6]) if len(sys.argv) == 7 else 0.0,
    )
