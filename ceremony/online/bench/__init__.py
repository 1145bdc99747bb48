"""``scripts/bench-online``: the measurements issue 7 asks for, side by side.

- :mod:`.loadgen`: bounded HTTP load (REST issuance, OCSP) on loopback;
- :mod:`.acme_load`: concurrent ACME order loops (same client for every server);
- :mod:`.crl_bench`: million-entry CRL, delta CRL, against a bare CRLBuilder;
- :mod:`.main`: starts the servers (ours, CFSSL, Pebble, ``openssl ocsp``) and prints the table.
"""
