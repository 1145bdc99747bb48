"""ACME server (RFC 8555) with http-01, dns-01 and tls-alpn-01 (RFC 8737), EAB,
key rollover and renewal information (RFC 9773). Messages and JWS through the
``acme`` and ``josepy`` libraries.

- :mod:`.problems`: RFC 8555 problem documents;
- :mod:`.nonces`: anti-replay nonces kept in the database;
- :mod:`.jws_check`: JWS parsing and verification of every POST;
- :mod:`.validation`: the validation authority (challenge checks);
- :mod:`.dns_client`: the minimal DNS TXT lookup dns-01 needs;
- :mod:`.ari`: renewal information certificate ids and windows;
- :mod:`.server`: the routes and the order state machine.
"""
