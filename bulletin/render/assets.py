"""The files an edition shows from [web].base_url: the issue's images (read from the loader's image record) and
the templates' social icons. Check weighs them, build copies them, publishing stores them: one list for all."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bulletin.config import Config
from bulletin.content.model import Issue
from bulletin.render.images import ICONS_DIR, icon_path, icon_url, image_url, publish_image, width_for

#: The config key of a social profile -> (the MJML element that links to it without a share prompt, its label,
#: the icon drawn for it in templates/icons/).
SOCIAL_ELEMENTS = {
    "facebook": ("facebook-noshare", "Facebook", "facebook.png"),
    "linkedin": ("linkedin-noshare", "LinkedIn", "linkedin.png"),
    "twitter": ("twitter-noshare", "Twitter", "twitter.png"),
    "x": ("twitter-noshare", "X", "x.png"),
    "youtube": ("youtube-noshare", "YouTube", "youtube.png"),
    "instagram": ("instagram-noshare", "Instagram", "instagram.png"),
    "github": ("github-noshare", "GitHub", "github.png"),
    "vimeo": ("vimeo-noshare", "Vimeo", "vimeo.png"),
    "medium": ("medium-noshare", "Medium", "medium.png"),
    "soundcloud": ("soundcloud-noshare", "SoundCloud", "soundcloud.png"),
    "pinterest": ("pinterest-noshare", "Pinterest", "pinterest.png"),
}
#: Any other profile: a plain link with a globe.
OTHER_SOCIAL = ("web", None, "web.png")


@dataclass(frozen=True)
class Asset:
    """A file an edition's HTML loads from [web].base_url."""

    url: str
    #: the file it is made from
    source: Path
    #: "image" (an image of the issue, scaled for `width`) or "icon" (a template file, served as it is)
    kind: str
    #: the name it goes by: the file name in images/, or the icon's file name
    name: str
    width: int | None = None

    def read(self) -> tuple[bytes, str]:
        """The bytes readers download and their content type."""
        if self.kind == "image":
            return publish_image(self.source.parent.parent, self.name, width=self.width)
        return self.source.read_bytes(), "image/png"


def social_links(cfg: Config) -> list[dict[str, str]]:
    """The footer's social profiles, in the configuration's order, each with the icon served for it."""
    out = []
    for key, url in cfg.organisation.social.items():
        if not url:
            continue
        element, label, icon = SOCIAL_ELEMENTS.get(key, OTHER_SOCIAL)
        out.append({"key": key, "element": element, "label": label or key.capitalize(), "url": url, "icon": icon,
                    "icon_url": icon_url(cfg.web.base_url, icon)})
    return out


def edition_assets(issue: Issue, language: str, cfg: Config, templates_dir: Path) -> list[Asset]:
    """Every file of [web].base_url that the edition `language` shows, once each."""
    assets: dict[str, Asset] = {}
    local = issue.local_images()  # widths over the whole issue: one scaled file serves every edition
    for ref in issue.images_of(language):
        if ref.file is not None:
            url = image_url(cfg.web.base_url, issue.slug, ref.file.name)
            assets.setdefault(url, Asset(url, ref.file, "image", ref.file.name, width_for(local[ref.file.name])))
    for link in social_links(cfg):
        path = Path(templates_dir) / ICONS_DIR / link["icon"]
        if path.is_file():  # a customised templates folder without icons shows the labels alone
            assets.setdefault(link["icon_url"], Asset(link["icon_url"], icon_path(templates_dir, link["icon"]), "icon",
                                                      link["icon"]))
    return list(assets.values())
