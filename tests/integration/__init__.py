"""Integration tests against a real Redis and real HTTP: the stores that let replicas scale out."""
