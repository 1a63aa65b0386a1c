"""Schemathesis hooks for cloudnet's API run (scripts/schemathesis.sh).

Registers the `neutron_error` check: every error response (4xx/5xx) carries
Neutron's error body, {"NeutronError": {"type", "message", "detail"}}, with
string members, as neutron-lib's faults and the openstack client expect.
"""

import json

import schemathesis


@schemathesis.check
def neutron_error(ctx, response, case):
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content or b"null")
    except ValueError as e:
        raise AssertionError(f"{response.status_code} error body is not JSON: {e}") from None
    err = body.get("NeutronError") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        raise AssertionError(f"{response.status_code} error body is not a NeutronError: {body!r}")
    for key in ("type", "message", "detail"):
        if not isinstance(err.get(key), str):
            raise AssertionError(f"NeutronError.{key} missing or not a string: {body!r}")
    return None
