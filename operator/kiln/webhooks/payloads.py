"""Shared pieces for reading payloads with pydantic: strict enough to reject garbage with a 400,
lenient about everything Kiln does not use (unknown fields are ignored).

Two leniencies every provider gets alike:

- `List[...]`: a list the host may send as `null` (Gitee's `commits`, `added`, `removed`): null
  means empty.
- `PushTime` / `EpochSeconds` / `EpochMillis`: a time that cannot be placed on the calendar in
  every time zone (git accepts years 1 to 9999 with any offset, so `9999-12-31T23:59:59-14:00` is
  a valid commit date that is past the end of Python's calendar in UTC) reads as no time at all;
  the push time then comes from the next source, down to the delivery's arrival
  (`normalize.ref_update_outcome`). A value that is not a time (`"yesterday"`) is still a 400.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from kiln.webhooks.errors import MalformedPayload

# SHA-1 object ids (40 hex); SHA-256 repositories (64 hex) are accepted too (and refused with a
# reason later: a BuildRun records 40-hex commit ids).
Sha = Annotated[str, StringConstraints(pattern=r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$", to_lower=True)]

# Times every fixed offset (less than a day either way, as `datetime` allows) can show, so that the
# BuildRun's UTC `pushedAt` and the UTC+8 build times in tags never leave the calendar.
EARLIEST_TIME = datetime(1, 1, 2, tzinfo=UTC)
LATEST_TIME = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

T = TypeVar("T")


def _none_to_empty(value: Any) -> Any:
    return [] if value is None else value


# A list that may arrive as null.
List = Annotated[list[T], BeforeValidator(_none_to_empty)]


def on_the_calendar(moment: datetime) -> bool:
    """Whether `moment` (timezone-aware) can be shown in any time zone: in UTC between
    0001-01-02 and 9999-12-30."""
    if 1 < moment.year < 9999:
        return True  # an offset moves it less than a day: no conversion needed (every push time)
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return False
    return EARLIEST_TIME <= utc <= LATEST_TIME


def usable_time(moment: datetime | None) -> datetime | None:
    """The time (a naive one taken as UTC), or None when it is off the calendar (`on_the_calendar`)."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware if on_the_calendar(aware) else None


def _epoch(unit: float) -> Any:
    def read(value: Any) -> Any:
        # pydantic guesses seconds or milliseconds from the size; the hosts say which they send.
        # bool is an int, but True is not a time: leave it to pydantic's refusal.
        # (int, float), not int | float: a tuple builds no union object per call
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return EPOCH + timedelta(seconds=value / unit)
            except (OverflowError, ValueError):
                return None  # beyond the calendar: no time (see the module docstring)
        return value

    return read


PushTime = Annotated[datetime | None, AfterValidator(usable_time)]
EpochSeconds = Annotated[datetime | None, BeforeValidator(_epoch(1)), AfterValidator(usable_time)]
EpochMillis = Annotated[datetime | None, BeforeValidator(_epoch(1000)), AfterValidator(usable_time)]


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


class ChangedPaths(Model):
    """What Kiln reads of a listed commit that is not the head (GitHub and Gitee list the head
    apart): the paths it touched. Validating only these keeps a push of many commits cheap."""

    added: List[str] = Field(default_factory=list)
    modified: List[str] = Field(default_factory=list)
    removed: List[str] = Field(default_factory=list)

    @property
    def files(self) -> set[str]:
        return {*self.added, *self.modified, *self.removed}


class GitCommit(ChangedPaths):
    """A commit as GitHub, GitLab and Gitee list them in push payloads."""

    id: Sha
    message: str | None = None
    timestamp: PushTime = None
    author: GitPerson | None = None
