"""detect-secrets plugin for the OpenAI key shapes the built-in detector misses.

The built-in OpenAIDetector only knows keys containing the legacy `T3BlbkFJ` marker;
project and service-account keys (`sk-proj-…`, `sk-svcacct-…`) often lack it.
"""

import re

from detect_secrets.plugins.base import RegexBasedDetector


class OpenAIProjectKeyDetector(RegexBasedDetector):
    """Scans for OpenAI project/service-account/user API keys."""

    secret_type = "OpenAI API Key (project/service account)"  # noqa: S105  # pragma: allowlist secret

    denylist = [  # noqa: RUF012 (detect-secrets reads this class attribute)
        re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}"),
    ]
