"""The proxy's TLS certificate: made fresh at each start, for this machine's names only.

A browser shows the certificate's SHA-256 fingerprint on its warning page; the lab prints
the same fingerprint, so a user can check that the page they are about to trust is this
proxy's. The certificate is issued by a throw-away authority (``trustme``) whose own
certificate is written beside it (``ca.pem``) for clients that would rather verify than
pass ``--insecure``. Nothing is added to any trust store.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path

NAMES = ("127.0.0.1", "localhost", "::1")
"""The names the certificate is valid for (loopback; LAN addresses are added in classroom mode)."""


@dataclass(frozen=True, slots=True)
class Certificate:
    """Where the certificate, its key and its authority were written, and its fingerprint."""

    chain: Path
    key: Path
    authority: Path
    fingerprint: str


def fingerprint_of(pem: bytes) -> str:
    """The SHA-256 fingerprint of a PEM certificate, as browsers show it (``AB:CD:…``)."""
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def make_certificate(chain: Path, key: Path, extra_names: tuple[str, ...] = ()) -> Certificate:
    """Issue a certificate for :data:`NAMES` and ``extra_names``; write chain, key and authority."""
    # Imported here: only --proxy needs it, and loading it (with cryptography) costs about
    # 90 ms and 8 MB in every lab process and worker that would never use it.
    import trustme

    authority = trustme.CA(organization_name="Right Now Lab (throw-away)")
    issued = authority.issue_cert(*NAMES, *extra_names)
    issued.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    authority_file = chain.with_name("ca.pem")
    authority.cert_pem.write_to_path(str(authority_file))
    return Certificate(chain, key, authority_file, fingerprint_of(issued.cert_chain_pems[0].bytes()))
