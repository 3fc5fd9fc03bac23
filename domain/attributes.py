"""The SQS message attributes the relay writes and reads: their one home.

Adapters write them, the domain reads them, the operator's console shows and filters by them; all
import the names from here. Every one starts with ``RELAY_ATTRIBUTE_PREFIX``, so a replay can drop the
relay's own context and keep the producer's attributes.
"""

from __future__ import annotations

from typing import Final

RELAY_ATTRIBUTE_PREFIX: Final = "sp-relay-"

# The relay's own context (deferral count, transaction follow-up, ...), sealed so that only the relay
# can write it (domain/relay_context.py). Producers' sp-relay-* attributes are never trusted.
RELAY_CONTEXT_ATTRIBUTE: Final = "sp-relay-context"

# On a dead-lettered message, so operators can see and filter why it failed.
OUTCOME_ATTRIBUTE: Final = "sp-relay-outcome"
REASON_ATTRIBUTE: Final = "sp-relay-reason"
DETAIL_ATTRIBUTE: Final = "sp-relay-detail"
ATTEMPTS_ATTRIBUTE: Final = "sp-relay-attempts"
SOURCE_MESSAGE_ID_ATTRIBUTE: Final = "sp-relay-source-message-id"
FAILED_AT_ATTRIBUTE: Final = "sp-relay-failed-at"
DEAD_LETTER_ATTRIBUTES: Final = (
    OUTCOME_ATTRIBUTE,
    REASON_ATTRIBUTE,
    DETAIL_ATTRIBUTE,
    ATTEMPTS_ATTRIBUTE,
    SOURCE_MESSAGE_ID_ATTRIBUTE,
    FAILED_AT_ATTRIBUTE,
)
