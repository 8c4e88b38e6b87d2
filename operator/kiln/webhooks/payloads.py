"""Shared pieces for reading payloads with pydantic: strict enough to reject garbage with a 400,
lenient about everything Kiln does not use (unknown fields are ignored)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from kiln.webhooks.errors import MalformedPayload

# SHA-1 object ids (40 hex); SHA-256 repositories (64 hex) are accepted too.
Sha = Annotated[str, StringConstraints(pattern=r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$", to_lower=True)]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


M = TypeVar("M", bound=BaseModel)


def load(model: type[M], raw: bytes | str) -> M:
    """Validate JSON into `model`; errors name fields only, never values (the body may hold secrets)."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '<body>'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False, include_context=False)[:3]
        ]
        raise MalformedPayload("invalid payload: " + "; ".join(problems)) from None


class GitPerson(Model):
    name: str | None = None
    email: str | None = None


class GitCommit(Model):
    """A commit as GitHub, GitLab and Gitee list them in push payloads."""

    id: Sha
    message: str | None = None
    timestamp: datetime | None = None
    author: GitPerson | None = None
    added: list[str] = Field(default_factory=list)
    modified: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)

    @property
    def files(self) -> set[str]:
        return {*self.added, *self.modified, *self.removed}
