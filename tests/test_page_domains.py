"""``DomainUsers``: syncdp's helpers of one tab share a CDP domain (pure, no browser)."""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Set, Tuple

from syncdp.page.domains import DomainUsers


class _Recorder:
    def __init__(self) -> None:
        self.sent: List[Tuple[str, Optional[Dict[str, Any]]]] = []
        self.user_domains: Set[str] = set()

    def send(self, method: str, params: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        self.sent.append((method, params))
        return {}

    def users(self) -> DomainUsers:
        return DomainUsers(self.send, lambda domain: domain in self.user_domains)


def test_the_domain_is_enabled_by_the_first_helper_and_disabled_by_the_last() -> None:
    recorder = _Recorder()
    domains = recorder.users()
    domains.acquire("Network", "network log")
    domains.acquire("Network", "blocked urls")
    domains.acquire("Network", "network log")  # idempotent per helper
    domains.release("Network", "network log")
    assert recorder.sent == [("Network.enable", None)]
    assert domains.users("Network") == {"blocked urls"}
    domains.release("Network", "blocked urls")
    assert recorder.sent == [("Network.enable", None), ("Network.disable", None)]


def test_releasing_a_helper_that_never_acquired_sends_nothing() -> None:
    recorder = _Recorder()
    recorder.users().release("Fetch", "interception")
    assert recorder.sent == []


def test_a_domain_the_user_enabled_is_never_disabled_by_a_helper() -> None:
    recorder = _Recorder()
    recorder.user_domains.add("Network")
    domains = recorder.users()
    domains.acquire("Network", "offline")
    domains.release("Network", "offline")
    assert recorder.sent == [("Network.enable", None)]


def test_enable_params_are_sent_every_time_they_change() -> None:
    recorder = _Recorder()
    domains = recorder.users()
    domains.acquire("Fetch", "interception", {"patterns": [{"urlPattern": "*a*"}]})
    domains.acquire("Fetch", "interception", {"patterns": [{"urlPattern": "*b*"}]})
    assert [params for _, params in recorder.sent] == [
        {"patterns": [{"urlPattern": "*a*"}]}, {"patterns": [{"urlPattern": "*b*"}]}]


def test_helpers_on_many_threads_leave_the_domain_off_once_all_left() -> None:
    recorder = _Recorder()
    domains = recorder.users()
    barrier = threading.Barrier(8)

    def helper(n: int) -> None:
        barrier.wait(10)
        for _ in range(50):
            domains.acquire("Network", "helper %d" % n)
            domains.release("Network", "helper %d" % n)

    threads = [threading.Thread(target=helper, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    methods = [method for method, _ in recorder.sent]
    assert methods[-1] == "Network.disable"
    # enable and disable alternate: never two enables or two disables in a row
    assert all(a != b for a, b in zip(methods, methods[1:]))
    assert domains.users("Network") == set()
