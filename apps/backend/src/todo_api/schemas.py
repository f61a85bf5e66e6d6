"""Request and response bodies. Requests forbid unknown fields so a typo is a 422 naming it."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    Strict,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import CoreSchema

from .models import DESCRIPTION_MAX, EMAIL_MAX, NAME_MAX, TITLE_MAX, Priority

StatusFilter = Literal["all", "pending", "completed"]
SortKey = Literal[
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "due_date",
    "-due_date",
    "priority",
    "-priority",
    "title",
    "-title",
]

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# The string rules below as JSON Schema patterns (valid in ECMA and Python regex alike), so the
# OpenAPI document describes what the API accepts: a client or a tester (schemathesis) that
# follows it is not refused. \u0000 is NUL; \s is whitespace as str.strip() sees it.
NO_NUL_PATTERN = r"^[^\u0000]*$"


def stripped_text_schema(max_length: int, *, blank: bool = False) -> WithJsonSchema:
    """The schema of a string the API strips before checking its length: at most max_length
    characters between the first and the last that are not whitespace (none at all only if
    `blank`), any whitespace around them, and no NUL. A maxLength would count the whitespace
    the API ignores."""
    text = rf"[^\s\u0000](?:[^\u0000]{{0,{max_length - 2}}}[^\s\u0000])?"
    if blank:
        text = f"(?:{text})?"
    return WithJsonSchema({"type": "string", "pattern": rf"^\s*{text}\s*$"})


# _email after its strip(): at most EMAIL_MAX characters, the shape of _EMAIL_RE, no NUL.
EMAIL_PATTERN = (
    rf"^\s*(?=\S{{1,{EMAIL_MAX}}}\s*$)[^@\s\u0000]+@[^@\s\u0000]+\.[^@\s\u0000]+\s*$"
)


@dataclass(frozen=True, slots=True)
class SchemaPattern:
    """Annotated metadata: states a rule the validators enforce as the JSON Schema `pattern`
    (documentation only; the validators stay the authority and keep their messages)."""

    pattern: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        schema = handler(core_schema)
        schema["pattern"] = self.pattern
        return schema


def _no_nul_in_schema(schema: dict[str, Any]) -> None:
    """RequestModel's NUL rule in its JSON Schema: every plain string property (not an enum, a
    date or a uuid, and without a stricter pattern of its own) gets NO_NUL_PATTERN."""
    for prop in schema.get("properties", {}).values():
        for branch in prop.get("anyOf", [prop]):
            if branch.get("type") == "string" and not branch.keys() & {"pattern", "enum", "const", "format"}:
                branch["pattern"] = NO_NUL_PATTERN


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; refuse it here instead of failing in the driver.
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > EMAIL_MAX or not _EMAIL_RE.match(value):
        raise ValueError("is not a valid email address")
    return value


def _blank_to_none(value: str | None) -> str | None:
    if value is not None and not value.strip():
        return None
    return value


def _date_text(value: object) -> object:
    # Lax validation would also take a number (seconds since 1970): the API takes a date only
    # as the document says, a "YYYY-MM-DD" string (or, from Python callers, a date).
    if not isinstance(value, str) and type(value) is not dt.date:
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


def _utc(value: dt.datetime) -> dt.datetime:
    # psycopg hands timestamptz over in the database session's time zone; the API writes
    # UTC (a Z) whatever that zone is, as the list built by PostgreSQL does.
    return value.astimezone(dt.UTC)


Email = Annotated[
    str, AfterValidator(_email), WithJsonSchema({"type": "string", "pattern": EMAIL_PATTERN})
]
UtcDatetime = Annotated[dt.datetime, AfterValidator(_utc)]
DateText = Annotated[dt.date, BeforeValidator(_date_text)]
# true or false only (lax validation would also take 1, "yes", "on", ...).
JsonBool = Annotated[bool, Strict()]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX),
    AfterValidator(_no_nul),
    stripped_text_schema(TITLE_MAX),
]
# A search string (tasks list `q`, the assistant's list tool).
SearchText = Annotated[
    str, StringConstraints(max_length=200), AfterValidator(_no_nul), SchemaPattern(NO_NUL_PATTERN)
]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX), AfterValidator(_no_nul)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=NAME_MAX),
    AfterValidator(_no_nul),
    stripped_text_schema(NAME_MAX, blank=True),
]


class RequestModel(BaseModel):
    """Every request body. A NUL in any string field is a 422 naming the field: PostgreSQL
    text cannot hold NUL, and the driver would otherwise turn it into a 500."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_nul_in_schema)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_anywhere(cls, value: object) -> object:
        return _no_nul(value) if isinstance(value, str) else value


class ErrorMessage(BaseModel):
    """Every error but a 422: {"detail": "what went wrong, for a person"}."""

    detail: str


# ---------------------------------------------------------------- auth


class RegisterRequest(RequestModel):
    email: Email
    password: Annotated[str, Field(min_length=8, max_length=128), AfterValidator(_no_nul)]
    name: Annotated[Name | None, AfterValidator(_blank_to_none)] = None


class LoginRequest(RequestModel):
    # No format check beyond length: login must answer 401 the same way for any unknown email.
    email: Annotated[str, Field(min_length=1, max_length=EMAIL_MAX)]
    password: Annotated[str, Field(min_length=1, max_length=128)]
    session: Literal["cookie", "bearer"] = Field(
        default="cookie",
        description=(
            "cookie (browsers): the session is set as the httpOnly cookie and the body holds "
            "only the user. bearer (API clients): no cookie; the body holds access_token for "
            "the Authorization header."
        ),
    )


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str | None
    created_at: UtcDatetime


class LoginResponse(BaseModel):
    """access_token and token_type are present only for `session: "bearer"` logins."""

    access_token: str | None = None
    token_type: Literal["bearer"] | None = None
    user: UserPublic


# ---------------------------------------------------------------- tasks


class TaskCreate(RequestModel):
    title: Title
    description: Description | None = None
    priority: Priority = "medium"
    due_date: DateText | None = None


# TaskUpdate's fields that may be left out but not sent as null.
_NOT_NULL = ("title", "completed", "priority")


def _task_update_schema(schema: dict[str, Any]) -> None:
    """TaskUpdate's JSON Schema: RequestModel's, with no null allowed for _NOT_NULL (their
    Python type needs None only to mean "not sent")."""
    _no_nul_in_schema(schema)
    for name in _NOT_NULL:
        prop = schema["properties"][name]
        prop.pop("default", None)
        (value,) = (branch for branch in prop.pop("anyOf") if branch.get("type") != "null")
        prop.update(value)


class TaskUpdate(RequestModel):
    """Partial update: only the fields present in the body change; null clears optional ones."""

    model_config = ConfigDict(json_schema_extra=_task_update_schema)

    title: Title | None = None
    description: Description | None = None
    completed: JsonBool | None = None
    priority: Priority | None = None
    due_date: DateText | None = None

    @field_validator(*_NOT_NULL, mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields present in the body, so the 422 names the offending field.
        if value is None:
            raise ValueError("cannot be null")
        return value

    def changes(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class TaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str | None
    completed: bool
    priority: Priority
    due_date: dt.date | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class TaskPage(BaseModel):
    items: list[TaskPublic]
    total: int


LIST_LIMIT_MAX = 100
# Deep offsets make PostgreSQL produce and discard every row before the page: bounded here
# (a 422 naming `offset`) so one request cannot hold a connection for seconds.
LIST_OFFSET_MAX = 10_000


class TaskListQuery(BaseModel):
    """The task list's query parameters, their one declaration: the route takes them as
    `Annotated[TaskListQuery, Query()]`, tasks_service and the assistant's list tool query
    with it, and the fast path (api/fast_list.py) validates with it and leaves anything it
    refuses to the route, so every 422 still comes from FastAPI."""

    status: StatusFilter = "all"
    priority: Priority | None = None
    q: SearchText | None = None
    sort: SortKey = "-created_at"
    limit: Annotated[int, Field(ge=1, le=LIST_LIMIT_MAX)] = 50
    offset: Annotated[int, Field(ge=0, le=LIST_OFFSET_MAX)] = 0


# ---------------------------------------------------------------- assistant


CHAT_MESSAGE_MAX = 4000


class ChatRequest(RequestModel):
    message: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=CHAT_MESSAGE_MAX),
        AfterValidator(_no_nul),
        stripped_text_schema(CHAT_MESSAGE_MAX),
    ]
    conversation_id: uuid.UUID | None = None


class AssistantAction(BaseModel):
    type: Literal["created", "updated", "deleted"]
    task: TaskPublic


class ChatResponse(BaseModel):
    conversation_id: uuid.UUID
    reply: str
    actions: list[AssistantAction]
    error: str | None = Field(
        default=None,
        description=(
            "Set when the turn stopped early after some of its rounds were stored: the "
            "actions listed did happen; the reply says the request was not finished."
        ),
    )


# ---------------------------------------------------------------- health


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable", "unknown"]
