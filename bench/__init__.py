"""End-to-end benchmark of the verifier: `python -m bench` (see bench/README.md)."""
