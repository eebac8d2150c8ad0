"""Content: an issue folder (issue.toml, front matter + Markdown, editions) read into an `Issue`."""

from bulletin.content.loader import load_issue
from bulletin.content.model import Director, EditionContent, Highlights, Image, Issue, NewsBlock, Problem

__all__ = ["load_issue", "Issue", "EditionContent", "NewsBlock", "Director", "Highlights", "Image", "Problem"]
