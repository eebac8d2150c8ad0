"""Content: an issue folder (issue.toml, front matter + Markdown, editions) read into an `Issue`."""

from bulletin.content.loader import Reading, load_issue, read_issue
from bulletin.content.model import (Director, EditionContent, Highlights, Image, ImageRef, ImageRole, Issue,
                                    NewsBlock)
from bulletin.content.problems import Problem, Severity

__all__ = ["load_issue", "read_issue", "Reading", "Issue", "EditionContent", "NewsBlock", "Director", "Highlights",
           "Image", "ImageRef", "ImageRole", "Problem", "Severity"]
