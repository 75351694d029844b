"""Scale-out tests: several verifier replicas as real processes sharing one Redis."""
