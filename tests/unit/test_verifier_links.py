"""The pieces of transaction creation that are cached for speed give what the uncached code gives."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import Forbidden
from service.outbound import OutboundPolicy, OutboundRefused
from service.verifier import _urlencode
from service.verifier_model import WebhookTargets

_HANDLE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
handles = st.builds(
    lambda kid, payload: f"{kid}.{payload}",
    st.text(alphabet="0123456789abcdef", min_size=1, max_size=8),
    st.text(alphabet=_HANDLE_CHARS, min_size=1, max_size=300),
)


@given(handle=handles, base=st.text(max_size=40), client_id=st.text(max_size=60), post=st.booleans())
def test_link_parameters_equal_urlencode(handle: str, base: str, client_id: str, post: bool) -> None:
    """Whatever surrounds the handle (a public URL, a client_id with the response URI in it), the
    link is byte for byte what ``urlencode`` makes of it."""
    params = {"client_id": client_id + handle + base, "request_uri": base + "/wallet/requests/" + handle}
    if post:
        params["request_uri_method"] = "post"
    assert _urlencode(params, handle) == urlencode(params)


@given(handle=st.text(max_size=30), value=st.text(max_size=30))
def test_any_handle_still_gives_urlencode(handle: str, value: str) -> None:
    """A handle with characters that need quoting takes the plain path."""
    params = {"request_uri": value + handle}
    assert _urlencode(params, handle) == urlencode(params)


class TestWebhookChoice:
    POLICY = OutboundPolicy()
    TARGETS = WebhookTargets(
        default="https://rp.example/hook", allow_list=("https://rp.example/hooks/",), policy=POLICY
    )

    def test_accepted_choices_are_the_uncached_ones(self):
        assert self.TARGETS.choose(None) == "https://rp.example/hook"
        assert self.TARGETS.choose("https://rp.example/hooks/a") == "https://rp.example/hooks/a"
        assert self.TARGETS.choose("https://rp.example/hooks/a") == "https://rp.example/hooks/a"

    @pytest.mark.parametrize("attempt", range(3))
    def test_a_refusal_is_refused_every_time(self, attempt: int):
        """Refusals raise, so the cache never turns a refused URL into an accepted one."""
        with pytest.raises(Forbidden):
            self.TARGETS.choose("https://evil.example/hook")

    def test_another_configuration_is_not_served_from_the_cache(self):
        """The cache is keyed by the whole configuration: a stricter policy refuses what a laxer one took."""
        lax = WebhookTargets(default=None, allow_list=("http://127.0.0.1:9/",), allow_loopback=True)
        strict = WebhookTargets(
            default=None, allow_list=("http://127.0.0.1:9/",), policy=self.POLICY, allow_loopback=False
        )
        assert lax.choose("http://127.0.0.1:9/h") == "http://127.0.0.1:9/h"
        with pytest.raises(OutboundRefused):
            strict.choose("http://127.0.0.1:9/h")
