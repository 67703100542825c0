"""Tables of the web console (issue 14): people, their sessions, invitations, and console submissions.

Passwords are stored as argon2 hashes, session and invitation tokens as SHA-256 hashes: the
database never holds a secret a reader could replay. ``console_submission`` remembers the answer
to each submission of the offline queue by its idempotency key, so a resend stores nothing new.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Person(SQLModel, table=True):
    """A person who signs in to the console: one organization, one role in it (owner or member)."""

    __tablename__ = "person"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    login: str = Field(index=True, unique=True, max_length=254)  # normalized e-mail or +84 phone number
    name: str | None = Field(default=None, max_length=200)
    role: str = Field(max_length=10)  # owner | member
    password_hash: str = Field(max_length=200)
    failed_logins: int = Field(default=0)
    locked_until: datetime | None = None
    created_at: datetime
    password_changed_at: datetime | None = None


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser: only the SHA-256 of its cookie is stored, with its CSRF token."""

    __tablename__ = "console_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    person_id: int = Field(foreign_key="person.id", index=True)
    csrf: str = Field(max_length=64)
    created_at: datetime
    expires_at: datetime


class Invite(SQLModel, table=True):
    """A one-time link that lets a new person join an organization with a role."""

    __tablename__ = "invite"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    org_id: int = Field(foreign_key="organization.id", index=True)
    role: str = Field(max_length=10)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class ConsoleSubmission(SQLModel, table=True):
    """The first answer to a console submission, by its idempotency key (per organization)."""

    __tablename__ = "console_submission"
    __table_args__ = (UniqueConstraint("org_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    key: str = Field(max_length=100)
    lot_id: str = Field(max_length=40)
    result: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime
