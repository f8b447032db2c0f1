"""Fill a spec's ``{field}`` templates from a tenant's credentials."""

from __future__ import annotations

import re

from avesa.domain.errors import ConfigError

_FIELD = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")


def fill(template: str, credentials: dict[str, str], *, where: str) -> str:
    """``{api_url}/v1`` -> ``https://x/v1``; a missing field is a ConfigError naming it (never its value)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = credentials.get(name)
        if not found:
            raise ConfigError(f"{where}: credential field {name!r} is missing; run `avesa service add` again "
                              "to store it")
        return found

    return _FIELD.sub(value, template)
