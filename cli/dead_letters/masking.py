"""What `dlq show` may print: personal data and secret-looking values replaced by ``***``."""

from __future__ import annotations

import json
import re
from typing import Any

from cli.dead_letters.letter import DeadLetter

MASK = "***"

# Keys whose values identify a person (a customer's name, phone, e-mail) or are part of an address.
_PERSONAL_KEY = re.compile(
    r"name|phone|e-?mail|fax|street|city|postal|zip|district|county|stateorregion|addressline", re.I
)
# An object under such a key is an address: every value in it is masked, except the country.
_ADDRESS_KEY = re.compile(r"address|party$|recipient|buyer(info)?$|shipto|billto", re.I)
_KEEP_IN_ADDRESS = {"countrycode", "partyid", "addresstype"}
_SECRET_KEY = re.compile(
    r"secret|token|password|passwd|credential|authori[sz]ation|api[-_]?key|private", re.I
)
_SECRET_VALUE = re.compile(
    r"^(Atz[ar]\||amzn1\.oa2-cs\.|eyJ[A-Za-z0-9_-]{8,}\.)|^[A-Za-z0-9+/_=-]{40,}$|^-----BEGIN", re.S
)
# Identifiers (commandId, sellerFulfillmentOrderId, ...) may be long but are never secrets by their look.
_IDENTIFIER_KEY = re.compile(r"(id|ids|number|code|sku|type|account|region|date)$", re.I)
# Masks "key": "value" pairs in a body that is not valid JSON (a truncated command can still hold data).
_JSON_PAIR = re.compile(r'"(?P<key>[^"\\]{1,80})"\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"?')


def _sensitive_key(key: str) -> bool:
    return bool(_PERSONAL_KEY.search(key) or _SECRET_KEY.search(key))


def mask_value(value: Any, *, key: str = "", in_address: bool = False) -> Any:
    """A copy of a JSON value with personal data and secret-looking values replaced by ``***``."""
    if isinstance(value, dict):
        return {
            k: mask_value(
                v,
                key=k,
                in_address=(in_address or bool(_ADDRESS_KEY.search(k))) and k.lower() not in _KEEP_IN_ADDRESS,
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_value(item, key=key, in_address=in_address) for item in value]
    if isinstance(value, str):
        if in_address or _sensitive_key(key):
            return MASK
        if _SECRET_VALUE.search(value) and not _IDENTIFIER_KEY.search(key):
            return MASK
        return value
    if in_address and isinstance(value, int | float) and not isinstance(value, bool):
        return MASK
    return value


def mask_text(text: str) -> str:
    """Masks a text that is not a JSON object: sensitive ``"key": "value"`` pairs and secret-like words."""

    def pair(match: re.Match[str]) -> str:
        key, value = match.group("key"), match.group("value")
        if _sensitive_key(key) or _ADDRESS_KEY.search(key) or _SECRET_VALUE.search(value):
            return f'"{key}": "{MASK}"'
        return match.group(0)

    masked = _JSON_PAIR.sub(pair, text)
    return " ".join(MASK if _SECRET_VALUE.search(word) else word for word in masked.split(" "))


def masked_body(letter: DeadLetter) -> str:
    if letter.command is not None:
        return json.dumps(mask_value(letter.command), indent=2, ensure_ascii=False)
    return mask_text(letter.body)
