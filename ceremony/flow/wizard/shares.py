"""Shares typed by their holders, one at a time, checked at once."""

from __future__ import annotations

from ceremony.errors import ShareError
from ceremony.flow.prompts import CollectedShares


class ShareEntry:
    """Shares typed one custodian at a time; a bad share is refused at once, by name.

    Accepted shares stay in memory only; :meth:`mnemonics` hands them to the
    flow. Nothing here logs or prints a share.
    """

    def __init__(self, threshold: int, set_id: str | None = None) -> None:
        from ceremony.backup.shares import ShareCollector

        self.threshold = threshold
        self.set_id = set_id
        """The recorded set (``id 01234``): a share of any other set is refused at once."""
        self._collector = ShareCollector()
        self._accepted: list[str] = []
        self.presented_by: list[str] = []

    def __repr__(self) -> str:
        return f"ShareEntry(accepted={len(self._accepted)}, threshold={self.threshold})"

    def add(self, custodian: str, text: str) -> str:
        """Accept ``custodian``'s share; return a status line without any share word.

        :raises ShareError: the share is mistyped, foreign, a duplicate, or not a share.
        """
        import shamir_mnemonic

        from ceremony.backup.shares import format_set_id, normalise_mnemonic

        if custodian in self.presented_by:
            raise ShareError(f"{custodian}: has presented a share already")
        if not text.strip():
            raise ShareError(f"{custodian}: no share words entered")
        try:
            share = shamir_mnemonic.Share.from_mnemonic(normalise_mnemonic(text))
        except (ShareError, shamir_mnemonic.MnemonicError):
            share = None  # the collector names what is wrong with it
        if (
            share is not None
            and self.set_id is not None
            and (format_set_id(share.identifier) != self.set_id)
        ):
            raise ShareError(
                f"{custodian}: share from another share set ({format_set_id(share.identifier)});"
                f" this ceremony's set is {self.set_id}"
            )
        try:
            status = self._collector.add(text)
        except ShareError as ex:
            raise ShareError(f"{custodian}: {ex.message}") from None
        self._accepted.append(normalise_mnemonic(text))
        self.presented_by.append(custodian)
        return (
            f"{custodian}: share accepted (set {status.set_id}); "
            f"{len(self._accepted)} of {self.threshold} entered"
        )

    @property
    def count(self) -> int:
        return len(self._accepted)

    @property
    def complete(self) -> bool:
        return len(self._accepted) >= self.threshold

    def mnemonics(self) -> list[str]:
        return list(self._accepted)

    def collected(self) -> CollectedShares:
        """The accepted shares with the custodians who presented them, for the flow."""
        return CollectedShares(tuple(self._accepted), tuple(self.presented_by))
