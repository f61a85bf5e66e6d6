"""The dev Swagger UI page (/api/docs, on when API_DOCS_ENABLED).

Its script and stylesheet come from jsDelivr at an exact swagger-ui-dist version with
Subresource Integrity: the browser runs them only if their bytes are the ones hashed here
(taken from the npm package of that version), so a changed or compromised CDN file is
refused rather than run with access to the page. The page's one inline script is allowed
by hash in its CSP, not by 'unsafe-inline'. A cluster without internet access shows an
empty page (the API itself does not need it).
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi.openapi.docs import get_swagger_ui_html

SWAGGER_UI_VERSION = "5.35.0"
_CDN = f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}"
# sha384 of the files in the npm tarball swagger-ui-dist-5.35.0.tgz (what jsDelivr serves).
ASSETS = {
    f"{_CDN}/swagger-ui-bundle.js": (
        # pragma: allowlist nextline secret (the SRI digest of a public file)
        "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9"
    ),
    f"{_CDN}/swagger-ui.css": (
        # pragma: allowlist nextline secret (the SRI digest of a public file)
        "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I"
    ),
}


def _with_integrity(page: str) -> str:
    """Adds integrity + crossorigin to the tags that load the pinned assets."""
    for url, digest in ASSETS.items():
        attribute = f'"{url}"'
        if attribute not in page:
            raise RuntimeError(f"the Swagger UI page no longer loads {url}")
        page = page.replace(attribute, f'{attribute} integrity="{digest}" crossorigin="anonymous"')
    return page


def swagger_page(openapi_url: str, title: str) -> tuple[bytes, str]:
    """(the HTML, its Content-Security-Policy)."""
    html = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{_CDN}/swagger-ui-bundle.js",
        swagger_css_url=f"{_CDN}/swagger-ui.css",
        swagger_favicon_url="data:,",  # no third request to a third host
    ).body
    page = _with_integrity(bytes(html).decode()).encode()
    inline = re.findall(rb"<script>(.*?)</script>", page, re.DOTALL)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in inline
    )
    csp = (
        f"default-src 'none'; script-src {_CDN}/ {hashes}; "
        f"style-src {_CDN}/ 'unsafe-inline'; img-src data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return page, csp
