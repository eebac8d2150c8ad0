"""The cost of the To header per recipient: bulletin.deliver.headers.address against email.utils.formataddr (what
built it before, without folding or limits), and a whole message with DKIM for scale.

    .venv/bin/python bench/bench_headers.py

Best of 7 rounds, CPU time; the ratio is to formataddr in the same process.
"""

from __future__ import annotations

import sys
import time
from email.utils import formataddr
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from bulletin import config as config_mod  # noqa: E402
from bulletin.deliver import headers  # noqa: E402
from bulletin.deliver.dkim import DkimSigner  # noqa: E402
from bulletin.deliver.message import MessageTemplate, Recipient  # noqa: E402
from bulletin.render.pipeline import render_issue  # noqa: E402

NAMES = {
    "plain (John Smith)": "John Smith",
    "accented (Awa Traoré)": "Awa Traoré",
    "200 characters, accented": ("Aïssata Fatoumata Bintou Kadiatou Traoré-Coulibaly " * 4)[:200],
    "looks like an encoded word": "=?utf-8?q?Awa=0D=0ABcc:_x@example.org?=",
}
ROUNDS, CALLS = 7, 20_000


def per_call(fn) -> float:
    best = 1e9
    for _ in range(ROUNDS):
        start = time.process_time()
        for _ in range(CALLS):
            fn()
        best = min(best, time.process_time() - start)
    return best / CALLS * 1e6


def main() -> None:
    print(f"{'name':<30}{'headers µs':>12}{'formataddr µs':>15}{'ratio':>8}{'longest line':>14}")
    for label, name in NAMES.items():
        ours = per_call(lambda: headers.address("To", name, "awa.traore@example.org"))
        stdlib = per_call(lambda: formataddr((name, "awa.traore@example.org"), charset="utf-8"))
        longest = max(len(line) for line in (b"To: " + headers.address("To", name, "awa.traore@example.org"))
                      .split(b"\r\n"))
        print(f"{label:<30}{ours:>12.2f}{stdlib:>15.2f}{ours / stdlib:>8.2f}{longest:>14}")
    cfg = config_mod.from_mapping({})
    edition = render_issue(REPO / "issues" / "2023-07", cfg)[0]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    template = MessageTemplate(edition, from_name="IMRAP", from_address="bulletin@imrap-mali.org",
                               list_id="Nouvelles de l'IMRAP <news.imrap-mali.org>", send_id=1,
                               signer=DkimSigner("imrap-mali.org", "bulletin", pem))
    recipient = Recipient(email="awa.traore@example.org", name="Awa Traoré", message_id="b.1.1@imrap-mali.org",
                          unsubscribe_url="https://news.imrap-mali.org/unsubscribe/WzEsMiwzXQ.abcdefghijklmnop",
                          archive_url="https://news.imrap-mali.org/archive/2023-07")
    best = 1e9
    for _ in range(ROUNDS):
        start = time.process_time()
        for _ in range(300):
            template.build(recipient)
        best = min(best, time.process_time() - start)
    print(f"a whole message of the sample issue with DKIM: {best / 300 * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
