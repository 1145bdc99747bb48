"""The OpenAPI 3.1 description served at ``/openapi.json`` (written by hand, checked in tests)."""

from __future__ import annotations

from typing import Any

from ceremony import __version__
from ceremony.online.reasons import REASONS

_ERROR = {"$ref": "#/components/schemas/Error"}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


_ERRORS = {
    "400": _err("Malformed request (one-line JSON error)"),
    "401": _err("Missing or unknown bearer token"),
    "403": _err("Token not allowed for the profile, or refused by policy/lint"),
    "503": _err("Fault outside the request's control (database, HSM)"),
}

_SERIAL = {
    "name": "serial",
    "in": "path",
    "required": True,
    "description": "Serial number in hexadecimal (colons and leading zeros accepted)",
    "schema": {"type": "string", "pattern": "^[0-9A-Fa-f:]{1,64}$"},
}


def openapi_document(base_url: str) -> dict[str, Any]:
    certificate = {"$ref": "#/components/schemas/Certificate"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ceremony-online REST API",
            "version": __version__,
            "description": (
                "Online issuing CA under an offline root. Bearer tokens are created with "
                "`ceremony-online token create` and are scoped to profiles. ACME (RFC 8555) "
                "is at /acme/directory, CRLs under /crl/, OCSP at /ocsp."
            ),
        },
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/profiles": {
                "get": {
                    "summary": "Profiles this token may use",
                    "operationId": "listProfiles",
                    "responses": {
                        "200": {
                            "description": "Profiles",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "profiles": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Profile"},
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        "401": _ERRORS["401"],
                    },
                }
            },
            "/api/v1/issuers": {
                "get": {
                    "summary": "Issuing CAs, their chains and CRL URLs",
                    "operationId": "listIssuers",
                    "security": [],
                    "responses": {"200": {"description": "Issuers"}},
                }
            },
            "/api/v1/certificates": {
                "post": {
                    "summary": "Sign a CSR against a profile",
                    "operationId": "signCertificate",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/SignRequest"}
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Issued",
                            "content": {"application/json": {"schema": certificate}},
                        },
                        **_ERRORS,
                    },
                },
                "get": {
                    "summary": "List certificates (metadata), oldest first, paged",
                    "operationId": "listCertificates",
                    "parameters": [
                        {"name": "profile", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "name",
                            "in": "query",
                            "description": "A DNS name or IP address the certificate carries",
                            "schema": {"type": "string"},
                        },
                        {"name": "serial", "in": "query", "schema": _SERIAL["schema"]},
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["valid", "revoked"]},
                        },
                        {
                            "name": "expiring_days",
                            "in": "query",
                            "description": "Not yet expired and ending within this many days",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 36500},
                        },
                        {
                            "name": "after",
                            "in": "query",
                            "description": "Return entries with id greater than this",
                            "schema": {
                                "type": "integer",
                                "minimum": 0,
                                "maximum": 2**63 - 1,
                            },
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                    ],
                    "responses": {
                        "200": {"description": "A page; `next` is the URL of the next page"},
                        "400": _ERRORS["400"],
                        "401": _ERRORS["401"],
                    },
                },
            },
            "/api/v1/certificates/{serial}": {
                "get": {
                    "summary": "Fetch one certificate with its chain",
                    "operationId": "getCertificate",
                    "parameters": [_SERIAL],
                    "responses": {
                        "200": {
                            "description": "The certificate",
                            "content": {"application/json": {"schema": certificate}},
                        },
                        "404": _err("No such certificate visible to this token"),
                        "401": _ERRORS["401"],
                    },
                }
            },
            "/api/v1/certificates/{serial}/revoke": {
                "post": {
                    "summary": "Revoke a certificate; its CRL shard and the delta CRL are rebuilt",
                    "operationId": "revokeCertificate",
                    "parameters": [_SERIAL],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "reason": {"type": "string", "enum": list(REASONS)}
                                    },
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "Revoked",
                            "content": {"application/json": {"schema": certificate}},
                        },
                        "404": _err("No such certificate visible to this token"),
                        **_ERRORS,
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {
                        "error": {
                            "type": "string",
                            "enum": [
                                "badRequest",
                                "policy",
                                "unauthorized",
                                "forbidden",
                                "notFound",
                                "fault",
                            ],
                        },
                        "detail": {"type": "string"},
                    },
                },
                "SignRequest": {
                    "type": "object",
                    "required": ["profile", "csr"],
                    "additionalProperties": False,
                    "properties": {
                        "profile": {"type": "string"},
                        "csr": {"type": "string", "description": "PKCS#10 request, PEM"},
                        "ttl_hours": {"type": "integer", "minimum": 1},
                    },
                },
                "Certificate": {
                    "type": "object",
                    "properties": {
                        "serial": {"type": "string"},
                        "profile": {"type": "string"},
                        "names": {"type": "array", "items": {"type": "string"}},
                        "not_before": {"type": "string", "format": "date-time"},
                        "not_after": {"type": "string", "format": "date-time"},
                        "status": {"type": "string", "enum": ["valid", "revoked"]},
                        "certificate": {"type": "string", "description": "PEM"},
                        "chain": {"type": "string", "description": "PEM, issuer first"},
                    },
                },
                "Profile": {"type": "object", "additionalProperties": True},
            },
        },
    }
