"""Steps shared by every ceremony after the root ceremony: activate the root key."""

from __future__ import annotations

from typing import Any

from ceremony.errors import PolicyError
from ceremony.flow.engine import Context, Step
from ceremony.flow.root import key_ref, root_cert
from ceremony.hsm import keys
from ceremony.hsm.signers import same_public_key


def _activate(ctx: Context) -> dict[str, Any]:
    ref = key_ref(ctx, "root.key")
    root = root_cert(ctx)
    with ctx.hsm.session(ctx.token_label, ctx.user_pin()) as session:
        pub = keys.public_key(session, ref)
    if not same_public_key(pub, root.public_key()):
        raise PolicyError(
            f"token {ctx.token_label!r}: key {ref.label!r} is not the root certificate's key"
        )
    q = ctx.definition.activation
    return {
        "activation": {"threshold": q.threshold, "shares_presented": q.threshold},
        "key": {"label": ref.label, "id": ref.key_id.hex(), "matches_root_certificate": True},
    }


ACTIVATE = Step(
    "activation",
    "Custodians present M activation shares; the root key is found and matched"
    " to the root certificate",
    _activate,
    commit=True,
)
