"""Certificate and CRL profiles, builders, the lint gate and CSR checks."""
