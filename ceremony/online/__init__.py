"""The companion online issuing CA (optional ``online`` extra; never on the air-gapped machine).

Layers, from the edge inwards:

- :mod:`.cli` (``ceremony-online``), :mod:`.app` (Starlette ASGI app),
  :mod:`.api` (REST + OpenAPI + bearer tokens), :mod:`.acme` (RFC 8555);
- :mod:`.service` assembles :mod:`.issuance` (policy, lint, sign, store,
  audit), :mod:`.crl` (full/sharded/delta CRLs), :mod:`.ocsp`;
- :mod:`.profiles` and :mod:`.policy` (what may be issued), :mod:`.issuer`
  (certificate building around any ``cryptography`` private key: software
  or PKCS#11), :mod:`.lint` (pkilint), :mod:`.audit` (hash-chained log);
- :mod:`.db` (SQLAlchemy 2 models, Alembic migrations; SQLite or PostgreSQL).
"""
