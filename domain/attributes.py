"""The SQS message attributes the relay writes and reads: their one home.

Adapters write them, the domain reads them, the operator's console shows and filters by them; all
import the names from here. Every one starts with ``RELAY_ATTRIBUTE_PREFIX``, so a replay can drop the
relay's own context and keep the producer's attributes.
"""

from __future__ import annotations

from typing import Final

RELAY_ATTRIBUTE_PREFIX: Final = "sp-relay-"

# How often a throttled command was given back to the queue with a delay.
DEFERRALS_ATTRIBUTE: Final = "sp-relay-deferrals"

# On the status checks that follow a transaction: which command started it, when, and how often it was read.
FOLLOW_UP_OF_ATTRIBUTE: Final = "sp-relay-follow-up-of"
FOLLOW_UP_TYPE_ATTRIBUTE: Final = "sp-relay-follow-up-type"
FOLLOW_UP_STARTED_ATTRIBUTE: Final = "sp-relay-follow-up-started"
FOLLOW_UP_CHECKS_ATTRIBUTE: Final = "sp-relay-follow-up-checks"

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
