"""What AWS's refusals mean to a user, said once for every store and command that calls AWS: no
credentials, or an endpoint nothing answers on, end the command with one line naming the setting
and the fix (a ConfigError, exit 2) instead of a botocore traceback.

botocore is imported only when a call is made: the embedded install runs without it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from avesa.domain.errors import ConfigError


def no_credentials(setting: str) -> ConfigError:
    return ConfigError(f"no AWS credentials for {setting}: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                       "AWS_SECRET_ACCESS_KEY, or run where a role provides them")


@contextlib.contextmanager
def aws_access(service: str, setting: str, endpoint_variable: str) -> Iterator[None]:
    """Calls to `service` for `setting` inside the block: missing credentials and an unreachable
    endpoint become ConfigErrors saying so (`endpoint_variable` is the service's own endpoint
    variable, e.g. AWS_ENDPOINT_URL_DYNAMODB); every other error passes through."""
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    try:
        yield
    except NoCredentialsError:
        raise no_credentials(setting) from None
    except EndpointConnectionError as exc:
        raise ConfigError(f"cannot reach {service} for {setting} at {exc.kwargs.get('endpoint_url')}: "
                          f"check AWS_ENDPOINT_URL / {endpoint_variable} and the network") from None
