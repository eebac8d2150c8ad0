"""The plain-text part from the Markdown tree, on the inputs issue 12 quoted: headings underlined, links as text
and address, lists, paragraphs at 72 columns, and each language's punctuation."""

from __future__ import annotations

from bulletin.config import Config
from bulletin.render.plaintext import markdown_to_text
from bulletin.render.pipeline import render_issue
from compose_helpers import MINIMAL, write_issue

NEWS_FR = """---
title: Lancement de la phase 2
place: Bamako
facts:
  Lieu: Bamako
link: https://www.imrap-mali.org/h2i
---
### H2I CN_Phase 2_Vestibule de la paix

D'ici trois (3) ans contribuer à améliorer la compréhension des communautés sur les liens de causalité
(causes/conséquences) des dynamiques de conflits, comme le dit [le rapport](<https://www.imrap-mali.org/rapport 2023.pdf>).

- Pilier 1 : Apprentissage et communication
- Pilier 2 : Engagement communautaire
"""
NEWS_EN = """---
title: Phase 2 begins
place: Bamako
facts:
  Area: Bamako
link: https://www.imrap-mali.org/h2i
---
### H2I CN_Phase 2_Vestibule de la paix (Peace Vestibule)

Within three (3) years, help communities better understand the causal links (causes/consequences) of conflict
dynamics, as [the report](<https://www.imrap-mali.org/rapport 2023.pdf>) says.

1. Pillar 1: Learning and communication
2. Pillar 2: Community engagement
"""


def _editions(tmp_path):
    files = {**MINIMAL, "issue.toml": MINIMAL["issue.toml"] + '[en]\nsubject = "S"\npreheader = "P"\n',
             "news/01-bamako.md": NEWS_FR, "news/01-bamako.en.md": NEWS_EN}
    return render_issue(write_issue(tmp_path, files), Config())


def test_french_text_part(tmp_path):
    fr, _en = _editions(tmp_path)
    assert ("H2I CN_Phase 2_Vestibule de la paix\n"
            "-----------------------------------\n"
            "\n"
            "D'ici trois (3) ans contribuer à améliorer la compréhension des\n"
            "communautés sur les liens de causalité (causes/conséquences) des\n"
            "dynamiques de conflits, comme le dit le rapport\n"
            "<https://www.imrap-mali.org/rapport%202023.pdf>.\n"
            "\n"
            "- Pilier 1 : Apprentissage et communication\n"
            "- Pilier 2 : Engagement communautaire\n") in fr.text
    assert "Lieu\u00a0: Bamako\n" in fr.text
    assert "Lire la suite\u00a0: https://www.imrap-mali.org/h2i\n" in fr.text
    assert "Se désinscrire\u00a0: %%unsubscribe_url%%" in fr.text and "Voir dans le navigateur\u00a0: " in fr.text
    assert "###" not in fr.text and "](" not in fr.text
    assert "Site web\u00a0: <a " in fr.html


def test_english_text_part(tmp_path):
    _fr, en = _editions(tmp_path)
    assert ("H2I CN_Phase 2_Vestibule de la paix (Peace Vestibule)\n"
            "-----------------------------------------------------\n"
            "\n"
            "Within three (3) years, help communities better understand the causal\n"
            "links (causes/consequences) of conflict dynamics, as the report\n"
            "<https://www.imrap-mali.org/rapport%202023.pdf> says.\n"
            "\n"
            "1. Pillar 1: Learning and communication\n"
            "2. Pillar 2: Community engagement\n") in en.text
    assert "Area: Bamako\n" in en.text and "Area :" not in en.text
    assert "Unsubscribe: %%unsubscribe_url%%" in en.text and "Unsubscribe :" not in en.text
    assert "Read more: https://www.imrap-mali.org/h2i\n" in en.text
    assert "Website: <a " in en.html and "Website : " not in en.html


def test_every_line_fits_72_columns_except_an_address_alone(tmp_path):
    for ed in _editions(tmp_path):
        for line in ed.text.splitlines():
            assert len(line) <= 72 or " " not in line.split(": ", 1)[-1], line


def test_a_relative_link_is_kept_as_written_and_check_reports_it():
    # `[le rapport](<rapport.pdf>)` as the issue quoted it: the text names the address it was given.
    assert markdown_to_text("Lisez [le rapport](<rapport.pdf>).") == "Lisez le rapport <rapport.pdf>."


def test_no_break_spaces_are_never_a_line_break():
    text = markdown_to_text(("mot " * 16) + "« Vestibule\u00a0de\u00a0la\u00a0paix » et la suite.")
    assert all("\u00a0" not in line[-1:] for line in text.splitlines())
    assert "Vestibule\u00a0de\u00a0la\u00a0paix" in text
