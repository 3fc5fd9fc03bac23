"""SP-API's regions and Amazon's hosts for them: one home, imported by the command contract, the
settings' endpoint allow-list, the SP-API client, the CLI and the local stack. template.yaml's
AllowedPatterns cannot import it; tests/unit/test_settings.py checks them against it."""

from __future__ import annotations

from typing import Final, Literal, get_args

Region = Literal["na", "eu", "fe"]
REGIONS: Final[tuple[Region, ...]] = get_args(Region)
# An account secret without a region, and the CLI's bucket listing of an account with none yet.
DEFAULT_REGION: Final[Region] = "na"

# Login with Amazon: one token endpoint for every region.
LWA_HOST: Final = "api.amazon.com"
LWA_TOKEN_URL: Final = f"https://{LWA_HOST}/auth/o2/token"


def spapi_host(region: str, *, sandbox: bool = False) -> str:
    """SP-API's host of ``region`` (its sandbox twin with ``sandbox``). Raises ValueError otherwise."""
    if region not in REGIONS:
        raise ValueError(f"{region!r} is not an SP-API region; use one of {', '.join(REGIONS)}")
    return f"{'sandbox.' if sandbox else ''}sellingpartnerapi-{region}.amazon.com"


SPAPI_HOSTS: Final = frozenset(
    spapi_host(region, sandbox=sandbox) for region in REGIONS for sandbox in (False, True)
)
