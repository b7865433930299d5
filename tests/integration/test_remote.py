"""Remote browsers the way they are deployed: on other hosts, behind a TLS reverse proxy with
a bearer token, over links that die silently, on hosts that restart.

Two network namespaces with a veth pair each play the other hosts (``remote_hosts.py``), each
with headless Chromium reached on its own address; nginx with a CA made by the test sits in
front of the first. Skipped, with the reason, where namespaces cannot be made (not root, no
``ip netns``) and, for the proxy, where nginx or openssl is missing. Everything the tests make
is removed at the end, also on failure.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import remote_hosts
from fake_cdp import wait_until
from remote_hosts import NGINX_PORT, TOKEN, RemoteHost

import syncdp
from syncdp import discovery
from syncdp.exceptions import ConnectFailedError, ConnectionClosedError, TargetClosedError

pytestmark = [pytest.mark.integration, pytest.mark.remote, pytest.mark.timeout(150)]

# Generous for a loaded 2-core machine: the bound checked is 2 x ping_interval plus this.
HEARTBEAT_SLACK = 3.0


@pytest.fixture(scope="module")
def hosts() -> Iterator[List[RemoteHost]]:
    """Two remote hosts, each with Chromium on ``http://10.231.N.2:9222``."""
    reason = remote_hosts.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    remote_hosts.remove_stale()
    made: List[RemoteHost] = []
    try:
        for index in range(2):
            host = RemoteHost(index)
            made.append(host)
            host.create_network()
            host.start_browser()
        yield made
    finally:
        for host in made:
            host.close()


@pytest.fixture(scope="module")
def proxy(hosts: List[RemoteHost]) -> Iterator[Tuple[str, str]]:
    """nginx with TLS and a token in front of the first host: ``(https URL, CA file)``."""
    reason = remote_hosts.nginx_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    host = hosts[0]
    ca_file = host.start_nginx()
    try:
        yield "https://%s:%d" % (host.addr, NGINX_PORT), ca_file
    finally:
        host.stop_process("nginx")


def test_two_remote_browsers_are_driven_at_once_from_threads(hosts: List[RemoteHost]) -> None:
    ws_urls = [discovery.get_browser_ws_address(9222, host.addr) for host in hosts]
    endpoints = [host.url for host in hosts] + ws_urls  # by http://HOST:PORT and by ws URL
    results: Dict[str, Any] = {}
    errors: List[BaseException] = []

    def drive(endpoint: str, n: int) -> None:
        try:
            browser = syncdp.connect(endpoint)
            try:
                tab = browser.new_tab("about:blank")
                values = [tab.execute_script("%d * 10 + %d" % (n, i)) for i in range(20)]
                results[endpoint] = (browser.version()["product"], values)
                tab.close()
            finally:
                browser.stop()
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=drive, args=(endpoint, n), name="remote-driver")
        for n, endpoint in enumerate(endpoints)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert not errors, errors
    assert sorted(results) == sorted(endpoints)
    for n, endpoint in enumerate(endpoints):
        product, values = results[endpoint]
        assert product.startswith("Chrome/")
        assert values == [n * 10 + i for i in range(20)]


def test_tls_proxy_accepts_the_token_in_a_header_or_the_query_string(
    proxy: Tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    url, ca_file = proxy
    caplog.set_level(logging.DEBUG)
    by_header = syncdp.connect(url, ca_file=ca_file, headers={"Authorization": "Bearer " + TOKEN})
    try:
        assert by_header.get_page().execute_script("'header' + 1") == "header1"
        assert by_header.connection.ws_url.startswith("wss://")
    finally:
        by_header.stop()
    context = ssl.create_default_context(cafile=ca_file)
    by_query = syncdp.connect(url + "/?token=" + TOKEN, ssl_context=context)
    try:
        assert by_query.get_page().execute_script("'query' + 2") == "query2"
        # The typed protocol is downloaded through the gateway too (token, CA).
        assert by_query.cdp.Browser.getVersion()["product"].startswith("Chrome/")
        shown = repr(by_query) + repr(by_query.connection)
    finally:
        by_query.stop()
    assert TOKEN not in shown
    assert TOKEN not in caplog.text  # syncdp's, requests' and urllib3's debug logs


def test_tls_proxy_refuses_a_wrong_token_and_an_untrusted_certificate(proxy: Tuple[str, str]) -> None:
    url, ca_file = proxy
    with pytest.raises(ConnectFailedError, match="HTTP 401"):
        syncdp.connect(url + "/?token=wrong", ca_file=ca_file)
    with pytest.raises(ConnectFailedError, match="HTTP 401"):
        syncdp.connect(url, ca_file=ca_file, headers={"Authorization": "Bearer wrong"})
    with pytest.raises(ConnectFailedError, match="certificate is not trusted"):
        syncdp.connect(url + "/?token=" + TOKEN)  # the system's CAs do not know the test CA
    ws_url = url.replace("https://", "wss://") + "/devtools/browser/any?token=" + TOKEN
    with pytest.raises(ConnectFailedError, match="certificate is not trusted"):
        syncdp.connect(ws_url)


def test_dead_link_fails_pending_commands_within_two_ping_intervals_then_reconnects(
    hosts: List[RemoteHost],
) -> None:
    host = hosts[1]
    browser = syncdp.connect(host.url)  # another host: the heartbeat is on by default (5 s)
    try:
        tab = browser.get_page()
        assert tab.execute_script("1 + 1") == 2
        host.link_down()
        try:
            went_down = time.monotonic()
            pending = browser.connection.submit({"method": "Target.getTargets"})
            with pytest.raises(ConnectionClosedError, match="ping"):
                pending.result(timeout=60)
            elapsed = time.monotonic() - went_down
        finally:
            host.link_up()
        assert elapsed < 2 * 5.0 + HEARTBEAT_SLACK, elapsed
        # The link is back: the next command reconnects, and the tab's session is re-attached.
        assert browser.version()["product"].startswith("Chrome/")
        assert tab.execute_script("2 + 2") == 4
        assert browser.connection.connection_count == 2
    finally:
        browser.stop()


def test_restarted_host_fails_pending_commands_fast_and_the_next_command_reconnects(
    hosts: List[RemoteHost],
) -> None:
    host = hosts[1]
    browser = syncdp.connect(host.url)
    try:
        old_tab = browser.get_page()
        outcome: List[BaseException] = []

        def wait_long() -> None:
            try:
                old_tab.execute_script("new Promise(resolve => setTimeout(resolve, 60000))", timeout=90)
            except BaseException as exc:  # checked below
                outcome.append(exc)

        waiter = threading.Thread(target=wait_long, name="remote-waiter")
        waiter.start()
        wait_until(lambda: old_tab.connection.pending_commands >= 1, 30, message="never sent")
        killed = time.monotonic()
        host.kill_browser()
        waiter.join(30)
        assert not waiter.is_alive()
        assert outcome and isinstance(outcome[0], ConnectionClosedError), outcome
        assert time.monotonic() - killed < 20  # fast: the socket closed, no timeout ran out
        host.start_browser()  # a new browser on the same address
        assert browser.version()["product"].startswith("Chrome/")
        with pytest.raises(TargetClosedError):
            old_tab.execute_script("1")  # its target died with the old browser
        assert browser.get_page().execute_script("3 + 4") == 7
    finally:
        browser.stop()
