"""Who is calling: API tokens, and people signing in to the web pages.

Tokens are stored as a SHA-256 digest only: a leaked table reveals no usable
token, and the full value is shown once at creation. Passwords are stored as argon2id
hashes only (``marketplace.identity.passwords``).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.kernel.clock import utcnow
from marketplace.kernel.db import Base, UtcDateTime, str_enum
from marketplace.organisations.models import Organisation
from schemas.statuses import Role

RoleEnum = str_enum(Role, "role")


class WebUser(Base):
    """A person signing in to the web pages (``marketplace.identity.people``)."""

    __tablename__ = "web_user"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(RoleEnum)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: Wrong passwords in a row; the fifth locks the account until ``locked_until``.
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_signed_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: Carried in each session cookie; signing out moves it on, so every copy of an
    #: earlier cookie (another browser, a stolen one) stops working.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    organisation: Mapped[Organisation | None] = relationship(lazy="joined")


class SignInFailure(Base):
    """A failed sign-in from a client address, kept for the rate limit's window only."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (Index("ix_sign_in_failure_client_at", "client", "failed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class ApiToken(Base):
    __tablename__ = "api_token"
    __table_args__ = (
        CheckConstraint(
            "(role = 'admin' AND organisation_id IS NULL) OR "
            "(role <> 'admin' AND organisation_id IS NOT NULL)",
            name="admin_has_no_organisation",
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(RoleEnum)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("web_user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    organisation: Mapped[Organisation | None] = relationship(lazy="joined")
