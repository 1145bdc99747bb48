"""Custodians prove the share cards they were handed, before the ceremony closes; cards of an
interrupted attempt are declared void and destroyed in the room before new ones are handed out.

Each holder types the words at a few random positions of their card; a wrong
word is named and the share shown again so the card can be corrected. This
proves recovery cards (``backup.proof``) and activation cards
(``activation.proof`` of the root and recovery ceremonies) the same way. After a
resume the shares are no longer in memory: each holder then types their whole
share, and all of them together must rebuild the secret the step recorded.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from ceremony.backup.shares import check_words, word_challenge
from ceremony.config.ceremonyfile import Participant, Role
from ceremony.errors import HsmError, InputError, ShareError
from ceremony.flow.engine import Context, Step

PROOF_WORDS = 3
PROOF_ATTEMPTS = 3


def prove_by_words(
    ctx: Context,
    purpose: str,
    step: str,
    mnemonics: Sequence[str],
    holders: Sequence[Participant],
) -> list[dict[str, Any]]:
    """Holder i recites words of share i; returns what each proved (positions, attempts).

    :raises ShareError: a holder did not get the words right in :data:`PROOF_ATTEMPTS` tries.
    """
    rng = secrets.SystemRandom()
    results = []
    for index, holder in enumerate(holders, 1):
        mnemonic = mnemonics[index - 1]
        for attempt in range(1, PROOF_ATTEMPTS + 1):
            positions = word_challenge(mnemonic, rng, PROOF_WORDS)
            answers = ctx.prompter.prove_share(holder, index, positions, purpose)
            wrong = check_words(mnemonic, answers)
            if not wrong:
                results.append(
                    {
                        "custodian": holder.name,
                        "share": index,
                        "positions": list(positions),
                        "attempts": attempt,
                    }
                )
                break
            said = ", ".join(str(p) for p in wrong)
            ctx.prompter.progress(step, f"{holder.name}: word number {said} wrong")
            if attempt < PROOF_ATTEMPTS:
                ctx.prompter.reshow_share(holder, index, mnemonic, purpose)
        else:
            raise ShareError(
                f"custodian {holder.name}: {purpose} share {index} not confirmed after "
                f"{PROOF_ATTEMPTS} attempts"
            )
    return results


def activation_holders(ctx: Context) -> list[Participant]:
    """Who holds this ceremony's new activation shares, in share order."""
    event = ctx.log.find("token.init")
    if event is None:
        raise ShareError("activation proof: this ceremony initialized no token")
    names = event["payload"]["activation"].get("holders")
    if names is None:  # the root ceremony hands a share to every custodian
        return list(ctx.custodians)
    by_name = {p.name: p for p in ctx.custodians}
    return [by_name[n] for n in names]


def _activation_proof(ctx: Context) -> dict[str, Any]:
    if ctx.definition.protected_authentication_path:
        return {
            "custodians": [],
            "result": "not applicable: the token logs in on its own PIN pad; no activation"
            " shares exist",
        }
    holders = activation_holders(ctx)
    mnemonics: Sequence[str] | None = ctx.state.get("activation_mnemonics")
    if mnemonics is not None:
        proved = prove_by_words(ctx, "activation", "activation.proof", mnemonics, holders)
        return {"custodians": proved}
    return {"custodians": _activation_by_full_entry(ctx, holders)}


def _activation_by_full_entry(ctx: Context, holders: Sequence[Participant]) -> list[dict[str, Any]]:
    """After a resume: every holder types their whole share; together they must open the token."""
    from ceremony.flow.quorum import recover_pins

    shares = ctx.prompter.collect_shares("activation", len(holders), holders)
    if sorted(shares.presented_by) != sorted(h.name for h in holders):
        missing = [h.name for h in holders if h.name not in shares.presented_by]
        raise ShareError(
            f"activation proof: every holder enters their share; missing {', '.join(missing)}"
        )
    ctx.state["presented_by"] = list(shares.presented_by)
    pins = recover_pins(shares.mnemonics, ctx.hsm.pin_format(ctx.token_label))
    try:
        with ctx.hsm.session(ctx.token_label, pins.user_pin):
            pass
    except HsmError as ex:
        raise ShareError(
            f"activation proof: token {ctx.token_label!r} refuses the PIN the shares rebuild"
            " (shares of another token?)"
        ) from ex
    ctx.pins = pins
    order = [h.name for h in holders]
    return [
        {"custodian": name, "share": order.index(name) + 1, "method": "full share re-entered"}
        for name in shares.presented_by
    ]


ACTIVATION_PROOF = Step(
    "activation.proof",
    "Each holder proves their activation share card by typing words at random positions",
    _activation_proof,
)


VOID_PHRASE = "void cards destroyed"


def void_cards(
    ctx: Context,
    step: str,
    purpose: str,
    holders: Sequence[Participant],
    set_id: str | None = None,
) -> dict[str, Any]:
    """The interrupted attempt of ``step`` may have handed out ``purpose`` cards: they are void.

    The holders are named, destroy their cards in front of the witness, and the witness
    confirms by typing :data:`VOID_PHRASE`; recorded as an exception and returned for the
    step's payload.

    :raises InputError: the destruction was not confirmed (nothing new is handed out).
    """
    names = [h.name for h in holders]
    which = f" (share set {set_id})" if set_id else ""
    summary = [
        f"Any {purpose} share card{which} handed out by the interrupted {step} is void: a"
        " new set replaces them.",
        f"Holders: {', '.join(names)}. Each destroys their card now, in front of the witness"
        " (shredded or burnt, bag and all).",
        f"The witness types {VOID_PHRASE!r} when every card is destroyed.",
    ]
    if not ctx.prompter.confirm(step, summary, VOID_PHRASE):
        raise InputError(
            f"{step}: the {purpose} cards of the interrupted attempt were not confirmed"
            " destroyed; no new cards are handed out"
        )
    ctx.exception(
        f"{purpose} share cards{which} of an interrupted {step} are void; held by"
        f" {', '.join(names)}",
        "each holder destroyed their card in the room, witnessed, before new cards were handed out",
        ctx.actor(Role.WITNESS),
    )
    return {"purpose": purpose, "set_id": set_id, "holders": names, "destroyed_in_room": True}
