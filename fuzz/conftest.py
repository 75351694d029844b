"""Hypothesis profiles for the fuzz harnesses (fuzz/ is outside the default `pytest` testpaths).

    HYPOTHESIS_PROFILE=smoke    .venv/bin/pytest fuzz -p no:cacheprovider   # CI: ~200 examples per target
    HYPOTHESIS_PROFILE=campaign .venv/bin/pytest fuzz                       # 200 000 per target, no deadline

`FUZZ_EXAMPLES=N` overrides the example count of either profile (a bounded campaign of any size).
Failing examples are kept in the Hypothesis database (.hypothesis/) and replayed first on the next run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "smoke",
    max_examples=200,
    deadline=None,
    suppress_health_check=_SLOW_IS_FINE,
    print_blob=True,
)
settings.register_profile(
    "campaign",
    max_examples=200_000,
    deadline=None,
    suppress_health_check=_SLOW_IS_FINE,
    print_blob=True,
)
_ENV = os.environ  # noqa: TID251 (a test harness, not the service)
_profile = _ENV.get("HYPOTHESIS_PROFILE", "smoke")
if "FUZZ_EXAMPLES" in _ENV:
    settings.register_profile(
        f"{_profile}-sized", settings.get_profile(_profile), max_examples=int(_ENV["FUZZ_EXAMPLES"])
    )
    _profile = f"{_profile}-sized"
settings.load_profile(_profile)
