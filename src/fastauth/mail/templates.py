"""The mails fastauth sends, rendered from Jinja2 templates into `Message`s.

Each kind has three files in `fastauth/mail/templates/`: `<kind>.subject.txt`, `<kind>.txt` and
`<kind>.html` (which extends `_layout.html`). A `template_dir` overrides any of them file by file. HTML
is autoescaped; text and subject are not (they are not HTML). Every template gets `app_name` and
`user_email` (the recipient), the kinds with a link get `link`, `email_changed` gets `new_email`.

A link is `{base}{path}?token={code}` with the code URL-quoted. The base is `link_base_url`, else
`public_url` followed by `route_prefix`; it comes from configuration only, never from a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args
from urllib.parse import quote

import jinja2

from fastauth.errors import ConfigError
from fastauth.mail.base import Message

if TYPE_CHECKING:
    from fastauth.config import FastAuthConfig

__all__ = ["LINK_PATHS", "MAIL_KINDS", "MailKind", "MailTemplates"]

MailKind = Literal[
    "verify_email",
    "reset_password",
    "password_changed",
    "email_change_confirm",
    "email_changed",
    "account_deleted",
    "mfa_enabled",
    "mfa_disabled",
    "passkey_added",
    "passkey_removed",
]
MAIL_KINDS: tuple[MailKind, ...] = get_args(MailKind)

#: The path each kind's link opens (after the link base); kinds without one are notices.
LINK_PATHS: dict[MailKind, str] = {
    "verify_email": "/verify-email",
    "reset_password": "/reset-password",
    "email_change_confirm": "/confirm-email-change",
}

BUILTIN_DIR = Path(__file__).with_name("templates")


class MailTemplates:
    """Renders the mails. Build it with `from_config`, which also renders every template once, so a
    broken override fails at start-up rather than at the first mail."""

    def __init__(
        self,
        *,
        link_base: str,
        app_name: str = "fastauth",
        template_dir: Path | None = None,
        paths: Mapping[MailKind, str] | None = None,
    ) -> None:
        self.link_base = link_base
        self.app_name = app_name
        self.paths: dict[MailKind, str] = {**LINK_PATHS, **(paths or {})}
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(template_dir)] if template_dir else []
        loaders.append(jinja2.FileSystemLoader(BUILTIN_DIR))
        self._env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )

    @classmethod
    def from_config(cls, config: FastAuthConfig) -> MailTemplates:
        """Templates for `config`; raises `ConfigError` when links have no base or a template fails."""
        email = config.email
        if email.link_base_url is not None:
            base = email.link_base_url
        elif config.public_url is not None:
            base = config.public_url + config.route_prefix
        else:
            raise ConfigError(
                "mail links need a base URL, never taken from a request: set FASTAUTH_PUBLIC_URL (this "
                "server, like https://auth.example.com) or FASTAUTH_EMAIL__LINK_BASE_URL (your frontend)."
            )
        templates = cls(link_base=base, app_name=email.app_name, template_dir=email.template_dir)
        templates.check()
        return templates

    def link(self, kind: MailKind, code: str) -> str:
        """`{link_base}{path}?token={code}`."""
        return f"{self.link_base}{self.paths[kind]}?token={quote(code, safe='')}"

    def render(
        self, kind: MailKind, *, to: str, code: str | None = None, new_email: str | None = None
    ) -> Message:
        """The mail of `kind` to `to`. `code` is required exactly for the kinds with a link
        (`LINK_PATHS`), `new_email` exactly for `email_changed`."""
        if kind not in MAIL_KINDS:
            raise ValueError(f"unknown mail kind {kind!r}")
        if (code is None) == (kind in self.paths):
            raise ValueError(f"{kind}: a code is {'required' if kind in self.paths else 'not used'}")
        if (new_email is None) == (kind == "email_changed"):
            raise ValueError("new_email goes with email_changed only, and it needs one")
        context: dict[str, str] = {"app_name": self.app_name, "user_email": to}
        if code is not None:
            context["link"] = self.link(kind, code)
        if new_email is not None:
            context["new_email"] = new_email
        subject = " ".join(self._env.get_template(f"{kind}.subject.txt").render(context).split())
        text = self._env.get_template(f"{kind}.txt").render(context)
        html = self._env.get_template(f"{kind}.html").render(context)
        return Message(to=to, subject=subject, text=text, html=html, kind=kind)

    def check(self) -> None:
        """Render every kind once with sample values; `ConfigError` names the template that fails."""
        for kind in MAIL_KINDS:
            try:
                self.render(
                    kind,
                    to="user@example.com",
                    code="sample-code" if kind in self.paths else None,
                    new_email="new@example.com" if kind == "email_changed" else None,
                )
            except (jinja2.TemplateError, ValueError) as error:
                where = getattr(error, "name", None) or kind
                raise ConfigError(f"mail template {where} does not render: {error}") from None
