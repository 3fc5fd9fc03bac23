"""What `dlq show` may print: the command with personal data and secrets replaced by ``***``.

The same allow-list redaction as the outcome events (domain/privacy.py), with the CLI's marker.
"""

from __future__ import annotations

import json
from typing import Any

from cli.dead_letters.letter import DeadLetter
from domain.privacy import redact, redact_fragment

MASK = "***"


def mask_value(value: Any) -> Any:
    """A copy of a JSON value with every field not known to be safe replaced by ``***``."""
    return redact(value, MASK)


def mask_text(text: str) -> str:
    """Masks a text that is not a JSON object: unsafe ``"key": "value"`` pairs, e-mails, phones, secrets."""
    return redact_fragment(text, MASK)


def masked_body(letter: DeadLetter) -> str:
    if letter.command is not None:
        return json.dumps(mask_value(letter.command), indent=2, ensure_ascii=False)
    return mask_text(letter.body)
