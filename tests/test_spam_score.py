"""The sample issues, as subscribers receive them, trigger no scored SpamAssassin rule (local rules, Bayes off).

Text coloured like its background (a hidden preheader did that) scored HTML_FONT_LOW_CONTRAST: filters read
it as hidden text. Runs Debian's spamassassin, which .ci/run installs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from bulletin import config
from bulletin.deliver.message import MessageTemplate, Recipient
from bulletin.render.pipeline import render_issue
from compose_helpers import REPO, SAMPLES

SPAMASSASSIN = shutil.which("spamassassin")
#: One row of the report's table: points, rule name.
RULE = re.compile(r"^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s", re.M)


@pytest.fixture(scope="module")
def messages():
    cfg = config.load(REPO / "config.example.toml")
    out = []
    for slug in ("2023-07", "2022-08"):
        for edition in render_issue(SAMPLES / slug, cfg):
            template = MessageTemplate(edition, from_name="IMRAP", from_address="bulletin@imrap-mali.org",
                                       list_id="Actualites <actualites.imrap-mali.org>", send_id=7)
            data = template.build(Recipient(email="awa.traore@example.org", name="Awa Traoré",
                                            message_id=f"bulletin.7.{len(out)}@imrap-mali.org",
                                            unsubscribe_url="https://news.imrap-mali.org/unsubscribe/AbC.dEf",
                                            archive_url=f"https://news.imrap-mali.org/archive/{slug}"))
            out.append((f"{slug}.{edition.language}", data))
    return out


def _scored_rules(message: bytes, home) -> dict[str, float]:
    if SPAMASSASSIN is None:
        if os.environ.get("CI") == "true":
            pytest.fail("spamassassin is not installed: .ci/run must install it")
        pytest.skip("spamassassin is not installed (apt-get install spamassassin)")
    proc = subprocess.run([SPAMASSASSIN, "-L", "-t", "--cf=use_bayes 0", "--cf=bayes_auto_learn 0"],
                          input=message, capture_output=True, timeout=120, env={**os.environ, "HOME": str(home)})
    report = proc.stdout.decode("utf-8", "replace")
    assert "Content analysis details" in report, proc.stderr.decode()[-2000:]
    details = report.split("Content analysis details", 1)[1]
    return {name: float(points) for points, name in RULE.findall(details)}


@pytest.mark.slow
def test_no_scored_rule_on_the_samples(messages, tmp_path):
    for name, data in messages:
        rules = _scored_rules(data, tmp_path)
        assert "HTML_MESSAGE" in rules, (name, rules)  # the report was read
        assert {rule: pts for rule, pts in rules.items() if pts != 0} == {}, name
