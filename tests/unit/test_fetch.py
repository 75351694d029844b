"""The cached fetcher against a real local HTTP server: lifetimes, stale-if-error, sharing, refusals, SSRF."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from structlog.testing import capture_logs

from service.clock import FrozenClock
from service.errors import ConfigurationError, DependencyUnavailable, InvalidRequest
from service.fetch import CachedFetcher, Fetched, FetchFailed, FetchPolicy, FetchRefused
from service.outbound import OutboundPolicy, Resolver, make_client
from tests.support.routed_server import JSON, Reply, RoutedServer, resolve_to

T = TypeVar("T")

ACCEPT = (JSON,)
START = 1_000_000.0

# http and 127.0.0.1 are for tests only: in production the policy allows neither.
POLICY = OutboundPolicy(
    allow_http=True,
    allowed_private_hosts=frozenset({"127.0.0.1", "localhost"}),
    connect_timeout=2,
    read_timeout=2,
    max_response_bytes=4096,
)
PUBLIC_ONLY = OutboundPolicy(allow_http=True, connect_timeout=2, read_timeout=2)


def run(
    body: Callable[[CachedFetcher], Awaitable[T]],
    *,
    outbound: OutboundPolicy = POLICY,
    clock: FrozenClock | None = None,
    policy: FetchPolicy | None = None,
    resolver: Resolver | None = None,
) -> T:
    """Run ``body`` with a fetcher on a fresh client, closing the client afterwards."""

    async def main() -> T:
        async with make_client(outbound) as client:
            fetcher = CachedFetcher(
                client,
                outbound,
                clock=clock or FrozenClock(START),
                policy=policy or FetchPolicy(),
                resolver=resolver or resolve_to("127.0.0.1"),
            )
            return await body(fetcher)

    return asyncio.run(main())


def get_once(url: str, **options: Any) -> Fetched:
    return run(lambda fetcher: fetcher.get(url, accept=ACCEPT), **options)


def failure_of(url: str, **options: Any) -> FetchFailed | FetchRefused:
    with pytest.raises((FetchFailed, FetchRefused)) as caught:
        get_once(url, **options)
    assert isinstance(caught.value, FetchFailed | FetchRefused)
    return caught.value


def cache_control(value: str) -> Reply:
    return Reply(headers={"content-type": JSON, "cache-control": value})


# --- Answers --- #


class TestAnswers:
    def test_a_200_with_an_accepted_type_is_returned(self) -> None:
        """The body, the bare media type and the fetch time come back; the request asks for `accept`."""
        with RoutedServer({"/doc": Reply(body=b'{"a":1}')}) as server:
            fetched = get_once(server.url("/doc"))
            assert fetched == Fetched(b'{"a":1}', JSON, START, stale=False)
            assert server.headers[0]["accept"] == JSON

    def test_content_type_parameters_are_ignored(self) -> None:
        """`application/json; charset=utf-8` is application/json."""
        reply = Reply(headers={"content-type": "Application/JSON; charset=utf-8"})
        with RoutedServer({"/doc": reply}) as server:
            assert get_once(server.url("/doc")).content_type == JSON

    @pytest.mark.parametrize("content_type", ["text/html", "application/jsonx", ""])
    def test_another_content_type_is_refused(self, content_type: str) -> None:
        """A body of a type the caller does not accept is fetch.bad_content_type."""
        with RoutedServer({"/doc": Reply(headers={"content-type": content_type})}) as server:
            error = failure_of(server.url("/doc"))
            assert isinstance(error, FetchRefused)
            assert error.reason == "fetch.bad_content_type"

    def test_the_media_type_is_checked_per_caller(self) -> None:
        """One cached body serves a caller that accepts its type and refuses one that does not."""

        async def body(fetcher: CachedFetcher) -> tuple[Fetched, str]:
            fetched = await fetcher.get(server.url("/doc"), accept=("application/did+json", JSON))
            with pytest.raises(FetchRefused) as caught:
                await fetcher.get(server.url("/doc"), accept=("application/statuslist+jwt",))
            return fetched, caught.value.reason

        with RoutedServer({"/doc": Reply()}) as server:
            fetched, reason = run(body)
            assert fetched.content_type == JSON
            assert reason == "fetch.bad_content_type"
            assert server.hits["/doc"] == 1
            assert server.headers[0]["accept"] == "application/did+json, application/json"

    def test_a_body_over_the_cap_is_refused(self) -> None:
        """A truncated body is fetch.too_large, never a prefix handed to a parser."""
        with RoutedServer({"/doc": Reply(body=b"x" * 10_000)}) as server:
            error = failure_of(server.url("/doc"))
            assert isinstance(error, FetchRefused)
            assert error.reason == "fetch.too_large"

    def test_a_redirect_is_not_followed(self) -> None:
        """A 302 is fetch.bad_status and its target is never requested."""
        redirect = Reply(302, headers={"location": "/target", "content-type": JSON})
        with RoutedServer({"/doc": redirect, "/target": Reply()}) as server:
            error = failure_of(server.url("/doc"))
            assert isinstance(error, FetchRefused)
            assert (error.reason, error.http_status) == ("fetch.bad_status", 302)
            assert server.hits["/target"] == 0

    @pytest.mark.parametrize("status", [204, 400, 403, 404, 410])
    def test_other_statuses_are_refused(self, status: int) -> None:
        """Anything but 200 and the transient statuses is a permanent fetch.bad_status (400-class)."""
        with RoutedServer({"/doc": Reply(status)}) as server:
            error = failure_of(server.url("/doc"))
            assert isinstance(error, FetchRefused)
            assert isinstance(error, InvalidRequest)
            assert (error.reason, error.http_status, error.status_code) == ("fetch.bad_status", status, 400)

    @pytest.mark.parametrize("status", [429, 500, 502, 503])
    def test_server_trouble_is_unavailable(self, status: int) -> None:
        """429 and 5xx are fetch.unreachable (503-class): the caller may retry."""
        with RoutedServer({"/doc": Reply(status)}) as server:
            error = failure_of(server.url("/doc"))
            assert isinstance(error, FetchFailed)
            assert isinstance(error, DependencyUnavailable)
            assert (error.reason, error.http_status, error.status_code) == ("fetch.unreachable", status, 503)

    def test_a_closed_port_is_unavailable(self) -> None:
        """No server at all is fetch.unreachable."""
        with RoutedServer() as server:
            url = server.url("/doc")
        error = failure_of(url)
        assert isinstance(error, FetchFailed)
        assert error.reason == "fetch.unreachable"


# --- Lifetimes --- #


def gets_at(
    server: RoutedServer, offsets: list[float], *, ttl_hint: float | None = None, **options: Any
) -> list[Fetched]:
    """Fetch /doc once at each clock offset from START (one fetcher, one cache)."""
    clock = FrozenClock(START)

    async def body(fetcher: CachedFetcher) -> list[Fetched]:
        results = []
        for offset in offsets:
            clock.now = START + offset
            results.append(await fetcher.get(server.url("/doc"), accept=ACCEPT, ttl_hint=ttl_hint))
        return results

    return run(body, clock=clock, **options)


class TestLifetime:
    def test_max_age_is_honoured(self) -> None:
        """Two gets within max-age make one request; a get after it makes a second."""
        with RoutedServer({"/doc": cache_control("public, max-age=120")}) as server:
            gets_at(server, [0, 119])
            assert server.hits["/doc"] == 1
        with RoutedServer({"/doc": cache_control("max-age=120")}) as server:
            results = gets_at(server, [0, 119, 120])
            assert server.hits["/doc"] == 2
            assert results[2].fetched_at == START + 120

    def test_s_maxage_wins_over_max_age(self) -> None:
        """A shared cache uses s-maxage (RFC 9111 §5.2.2.10)."""
        with RoutedServer({"/doc": cache_control("max-age=100, s-maxage=500")}) as server:
            gets_at(server, [0, 499])
            assert server.hits["/doc"] == 1

    @pytest.mark.parametrize(
        ("header", "fresh_for"),
        [("max-age=5", 60), ("max-age=86400", 3600), ("no-store", 60), ("no-cache", 60), ("max-age=x", 300)],
    )
    def test_lifetimes_are_clamped(self, header: str, fresh_for: float) -> None:
        """Lifetimes stay in [min_ttl, max_ttl]; no-store/no-cache is the floor; garbage is the default."""
        with RoutedServer({"/doc": cache_control(header)}) as server:
            gets_at(server, [0, fresh_for - 1])
            assert server.hits["/doc"] == 1
        with RoutedServer({"/doc": cache_control(header)}) as server:
            gets_at(server, [0, fresh_for])
            assert server.hits["/doc"] == 2

    def test_the_hint_applies_without_cache_control(self) -> None:
        """With no Cache-Control the caller's hint (clamped) is the lifetime."""
        with RoutedServer({"/doc": Reply()}) as server:
            gets_at(server, [0, 899, 900], ttl_hint=900)
            assert server.hits["/doc"] == 2
        with RoutedServer({"/doc": Reply()}) as server:
            gets_at(server, [0, 59, 60], ttl_hint=1)
            assert server.hits["/doc"] == 2

    def test_cache_control_wins_over_the_hint(self) -> None:
        """The response's own max-age is used even when a hint is given."""
        with RoutedServer({"/doc": cache_control("max-age=100")}) as server:
            gets_at(server, [0, 100], ttl_hint=900)
            assert server.hits["/doc"] == 2

    def test_the_default_applies_without_either(self) -> None:
        """No header and no hint: default_ttl."""
        with RoutedServer({"/doc": Reply()}) as server:
            gets_at(server, [0, 299, 300], policy=FetchPolicy(default_ttl=300))
            assert server.hits["/doc"] == 2

    def test_the_cache_is_bounded(self) -> None:
        """The least recently used URL is evicted first."""
        routes = {"/a": Reply(), "/b": Reply(), "/c": Reply()}

        async def body(fetcher: CachedFetcher) -> None:
            for path in ("/a", "/b", "/a", "/c", "/a", "/b"):
                await fetcher.get(server.url(path), accept=ACCEPT)

        with RoutedServer(routes) as server:
            run(body, policy=FetchPolicy(max_entries=2))
            assert server.hits == Counter({"/a": 1, "/b": 2, "/c": 1})

    def test_bad_policies_fail_the_boot(self) -> None:
        """Inconsistent lifetimes are configuration errors."""
        for bad in ({"min_ttl": 0}, {"min_ttl": 10, "max_ttl": 5}, {"negative_ttl": -1}, {"max_entries": 0}):
            with pytest.raises(ConfigurationError):
                FetchPolicy(**bad)


# --- Failures --- #


class TestFailures:
    def test_stale_if_error(self) -> None:
        """After expiry a 500 serves the old body as stale within the window, and fails after it."""
        clock = FrozenClock(START)
        policy = FetchPolicy(stale_if_error=600, negative_ttl=30)

        async def body(fetcher: CachedFetcher) -> list[Fetched | str]:
            url = server.url("/doc")
            results: list[Fetched | str] = [await fetcher.get(url, accept=ACCEPT)]
            server.routes["/doc"] = Reply(500)
            for offset in (100, 100 + 600, 100 + 601):
                clock.now = START + offset
                try:
                    results.append(await fetcher.get(url, accept=ACCEPT))
                except FetchFailed as exc:
                    results.append(exc.reason)
            return results

        with RoutedServer({"/doc": cache_control("max-age=100")}) as server:
            fresh, stale, last_stale, failed = run(body, clock=clock, policy=policy)
            assert fresh == Fetched(b"{}", JSON, START, stale=False)
            assert stale == Fetched(b"{}", JSON, START, stale=True)
            assert last_stale == stale
            assert failed == "fetch.unreachable"
            # The last get falls in the negative period of the one before it: no request.
            assert server.hits["/doc"] == 3

    def test_stale_serving_is_logged_and_negatively_cached(self) -> None:
        """fetch.stale_served is logged; the failing server is not asked again within negative_ttl."""
        clock = FrozenClock(START)

        async def body(fetcher: CachedFetcher) -> list[Fetched]:
            url = server.url("/doc")
            await fetcher.get(url, accept=ACCEPT)
            server.routes["/doc"] = Reply(503)
            clock.now = START + 100
            first = await fetcher.get(url, accept=ACCEPT)
            clock.now = START + 129
            return [first, await fetcher.get(url, accept=ACCEPT)]

        with capture_logs() as logs, RoutedServer({"/doc": cache_control("max-age=100")}) as server:
            results = run(body, clock=clock, policy=FetchPolicy(negative_ttl=30))
            assert all(result.stale for result in results)
            assert server.hits["/doc"] == 2
        assert [log["event"] for log in logs].count("fetch.stale_served") == 2

    def test_a_permanent_failure_is_never_covered_by_stale(self) -> None:
        """A 404 after expiry is an error at once: a removed document must stop working."""
        clock = FrozenClock(START)

        async def body(fetcher: CachedFetcher) -> None:
            await fetcher.get(server.url("/doc"), accept=ACCEPT)
            server.routes["/doc"] = Reply(404)
            clock.now = START + 100
            await fetcher.get(server.url("/doc"), accept=ACCEPT)

        with RoutedServer({"/doc": cache_control("max-age=100")}) as server:
            with pytest.raises(FetchRefused) as caught:
                run(body, clock=clock)
            assert caught.value.http_status == 404

    def test_failures_are_cached_and_raised_afresh(self) -> None:
        """Within negative_ttl a failure is raised again without a request, as a new error each time."""
        clock = FrozenClock(START)

        async def body(fetcher: CachedFetcher) -> list[BaseException]:
            errors: list[BaseException] = []
            for offset in (0, 29, 30):
                clock.now = START + offset
                try:
                    await fetcher.get(server.url("/doc"), accept=ACCEPT)
                except (FetchFailed, FetchRefused) as exc:
                    errors.append(exc)
            return errors

        for reply, kind in ((Reply(500), FetchFailed), (Reply(404), FetchRefused)):
            with RoutedServer({"/doc": reply}) as server:
                errors = run(body, clock=clock, policy=FetchPolicy(negative_ttl=30))
                assert server.hits["/doc"] == 2
                assert all(type(error) is kind for error in errors)
                assert len({id(error) for error in errors}) == 3
                assert errors[1].__traceback__ is not errors[0].__traceback__

    def test_a_failure_after_the_window_keeps_failing(self) -> None:
        """Recovery: once the server answers again, the next miss returns a fresh body."""
        clock = FrozenClock(START)

        async def body(fetcher: CachedFetcher) -> Fetched:
            with pytest.raises(FetchFailed):
                await fetcher.get(server.url("/doc"), accept=ACCEPT)
            server.routes["/doc"] = Reply()
            clock.now = START + 30
            return await fetcher.get(server.url("/doc"), accept=ACCEPT)

        with RoutedServer({"/doc": Reply(500)}) as server:
            assert run(body, clock=clock, policy=FetchPolicy(negative_ttl=30)).stale is False


# --- Sharing --- #


class TestSharing:
    def test_concurrent_misses_share_one_fetch(self) -> None:
        """Twenty concurrent gets of one URL make one request."""

        async def body(fetcher: CachedFetcher) -> list[Fetched]:
            return await asyncio.gather(*(fetcher.get(server.url("/doc"), accept=ACCEPT) for _ in range(20)))

        with RoutedServer({"/doc": Reply(delay=0.2)}) as server:
            results = run(body)
            assert server.hits["/doc"] == 1
            assert len(results) == 20
            assert all(result is results[0] for result in results)

    def test_a_cancelled_caller_does_not_cancel_the_others(self) -> None:
        """One waiter giving up leaves the shared fetch running for the rest."""

        async def body(fetcher: CachedFetcher) -> Fetched:
            first = asyncio.create_task(fetcher.get(server.url("/doc"), accept=ACCEPT))
            second = asyncio.create_task(fetcher.get(server.url("/doc"), accept=ACCEPT))
            await asyncio.sleep(0.05)
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            return await second

        with RoutedServer({"/doc": Reply(delay=0.2)}) as server:
            assert run(body).body == b"{}"
            assert server.hits["/doc"] == 1

    def test_concurrent_failures_share_one_fetch(self) -> None:
        """Concurrent misses of a failing URL make one request and all fail."""

        async def body(fetcher: CachedFetcher) -> list[object]:
            calls = (fetcher.get(server.url("/doc"), accept=ACCEPT) for _ in range(5))
            return await asyncio.gather(*calls, return_exceptions=True)

        with RoutedServer({"/doc": Reply(500, delay=0.1)}) as server:
            results = run(body)
            assert server.hits["/doc"] == 1
            assert all(isinstance(result, FetchFailed) for result in results)


# --- SSRF --- #


class TestSsrf:
    @pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "[::1]"])
    def test_private_literals_are_refused_before_any_request(self, host: str) -> None:
        """Non-public IP literals are fetch.refused and nothing reaches the server."""
        with RoutedServer({"/doc": Reply()}) as server:
            error = failure_of(server.url("/doc", host=host), outbound=PUBLIC_ONLY)
            assert isinstance(error, FetchRefused)
            assert error.reason == "fetch.refused"
            assert server.total == 0

    def test_a_name_resolving_to_loopback_is_refused(self) -> None:
        """The public-address rule applies after DNS: a name pointing at 127.0.0.1 is refused."""
        with RoutedServer({"/doc": Reply()}) as server:
            url = server.url("/doc", host="innocent.example")
            error = failure_of(url, outbound=PUBLIC_ONLY, resolver=resolve_to("127.0.0.1"))
            assert isinstance(error, FetchRefused)
            assert error.reason == "fetch.refused"
            assert server.total == 0

    def test_https_is_required_by_default(self) -> None:
        """Without allow_http an http URL is refused."""
        error = failure_of("http://example.com/doc", outbound=OutboundPolicy())
        assert isinstance(error, FetchRefused)
        assert error.reason == "fetch.refused"


# --- Logs --- #


class TestLogs:
    def test_logs_name_the_host_only(self) -> None:
        """fetch.miss / fetch.hit / fetch.failed carry the host, never the path, query or body."""

        async def body(fetcher: CachedFetcher) -> None:
            for _ in range(2):
                await fetcher.get(server.url("/doc?holder=alice"), accept=ACCEPT)
            with pytest.raises(FetchFailed):
                await fetcher.get(server.url("/down?holder=alice"), accept=ACCEPT)

        routes = {"/doc?holder=alice": Reply(body=b'{"secret":1}'), "/down?holder=alice": Reply(500)}
        with capture_logs() as logs, RoutedServer(routes) as server:
            run(body)
        events = [log["event"] for log in logs]
        assert events == ["fetch.miss", "fetch.hit", "fetch.miss", "fetch.failed"]
        assert all(log["host"] == "localhost" for log in logs)
        text = repr(logs)
        assert "alice" not in text
        assert "secret" not in text
