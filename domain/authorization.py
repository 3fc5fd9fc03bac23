"""Which producers may act for which selling-partner accounts.

Anyone allowed to send to the command queue could otherwise act for every account whose secret sits
under the prefix. Two settings narrow that, and both are off until set:

- ``allowed_accounts``: the only accounts this stack acts for (one stack per tenant).
- ``sender_accounts``: per producer identity, the accounts it may act for. The identity is SQS's
  ``SenderId`` of the message: for an IAM role ``AROA…:session-name`` (matched on the whole id or on
  the role's unique id before the colon), for an IAM user ``AIDA…``. ``*`` stands for every account.
  A sender not listed is refused.

Messages the relay wrote itself (a deferral, a transaction follow-up) carry its sealed context
(domain/relay_context.py) and were authorized when their command first arrived.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.errors import AccountNotAllowed

ANY_ACCOUNT = "*"


@dataclass(frozen=True, slots=True)
class AccountAuthorization:
    allowed_accounts: frozenset[str] | None = None
    sender_accounts: Mapping[str, frozenset[str]] | None = field(default=None)

    def check(self, sender_id: str | None, account: str) -> None:
        """Raise AccountNotAllowed (naming the field and why) unless the sender may act for ``account``."""
        if self.allowed_accounts is not None and account not in self.allowed_accounts:
            raise AccountNotAllowed(f"account: this relay does not act for account {account!r}")
        if self.sender_accounts is None:
            return
        allowed = self._accounts_of(sender_id)
        if allowed is None:
            raise AccountNotAllowed(
                f"account: sender {sender_id or '(unknown)'!s} is not allowed to act for any account"
            )
        if ANY_ACCOUNT not in allowed and account not in allowed:
            raise AccountNotAllowed(f"account: sender {sender_id} may not act for account {account!r}")

    def _accounts_of(self, sender_id: str | None) -> frozenset[str] | None:
        assert self.sender_accounts is not None
        if not sender_id:
            return None
        exact = self.sender_accounts.get(sender_id)
        if exact is not None:
            return exact
        return self.sender_accounts.get(sender_id.split(":", 1)[0])
