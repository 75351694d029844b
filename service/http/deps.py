"""Dependency types the route handlers declare."""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency

from service.verifier import Verifier

__all__ = ["VerifierDep"]

VerifierDep: TypeAlias = NamedDependency[Verifier]
