"""The function tools the model may call, and their execution against one user's tasks.

Every tool is scoped to the calling user exactly like the HTTP API: a task id that is not
the user's is "not found", so the model cannot read or change anyone else's tasks.
Bad arguments come back to the model as an error result (it can correct itself); they never
raise.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from .. import tasks_service
from ..schemas import AssistantAction, Description, Priority, StatusFilter, TaskCreate, TaskPublic, Title

MAX_LISTED = 50


class _Args(BaseModel):
    # Models sometimes add keys we did not ask for; ignore them rather than fail the call.
    model_config = ConfigDict(extra="ignore")


class AddTaskArgs(TaskCreate):
    """The API's create body (same fields and limits), tolerant of extra keys like _Args."""

    model_config = ConfigDict(extra="ignore")


class ListTasksArgs(_Args):
    status: StatusFilter = "all"
    priority: Priority | None = None
    q: Annotated[str, Field(max_length=200)] | None = None


class TaskIdArgs(_Args):
    task_id: Annotated[int, Field(ge=1, le=2**63 - 1)]


class UpdateTaskArgs(TaskIdArgs):
    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    due_date: dt.date | None = None
    completed: bool | None = None


class CompleteTaskArgs(TaskIdArgs):
    completed: bool = True


_PRIORITY = {"type": "string", "enum": ["low", "medium", "high"]}
_DATE = {"type": "string", "description": "ISO date YYYY-MM-DD"}
_TASK_ID = {"type": "integer", "description": "id of one of the user's tasks (from list_tasks)"}


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


TOOLS: list[dict[str, Any]] = [
    _function(
        "add_task",
        "Create a task for the user.",
        {
            "title": {"type": "string", "description": "short title, at most 200 characters"},
            "description": {"type": "string"},
            "priority": _PRIORITY,
            "due_date": _DATE,
        },
        ["title"],
    ),
    _function(
        "list_tasks",
        "List the user's tasks, newest first (at most 50).",
        {
            "status": {"type": "string", "enum": ["all", "pending", "completed"]},
            "priority": _PRIORITY,
            "q": {"type": "string", "description": "text to search in title and description"},
        },
        [],
    ),
    _function(
        "update_task",
        "Change fields of one task; only the given fields change.",
        {
            "task_id": _TASK_ID,
            "title": {"type": "string"},
            "description": {"type": "string"},
            "priority": _PRIORITY,
            "due_date": _DATE,
            "completed": {"type": "boolean"},
        },
        ["task_id"],
    ),
    _function(
        "complete_task",
        "Mark one task as done (or, with completed=false, as not done).",
        {"task_id": _TASK_ID, "completed": {"type": "boolean"}},
        ["task_id"],
    ),
    _function("delete_task", "Delete one task.", {"task_id": _TASK_ID}, ["task_id"]),
]


class ToolOutcome:
    def __init__(self, result: dict[str, Any], action: AssistantAction | None = None) -> None:
        self.result = result
        self.action = action


def _task_json(task: Any) -> dict[str, Any]:
    return TaskPublic.model_validate(task).model_dump(mode="json")


def _not_found(task_id: int) -> ToolOutcome:
    return ToolOutcome({"ok": False, "error": f"task {task_id} not found"})


def _add(session: Session, user_id: int, args: AddTaskArgs) -> ToolOutcome:
    task = tasks_service.create_task(session, user_id, **args.model_dump())
    public = TaskPublic.model_validate(task)
    return ToolOutcome(
        {"ok": True, "task": _task_json(task)}, AssistantAction(type="created", task=public)
    )


def _list(session: Session, user_id: int, args: ListTasksArgs) -> ToolOutcome:
    flt = tasks_service.TaskFilter(
        status=args.status, priority=args.priority, q=args.q, limit=MAX_LISTED
    )
    items, total = tasks_service.list_tasks(session, user_id, flt)
    return ToolOutcome({"ok": True, "total": total, "tasks": [_task_json(t) for t in items]})


def _update(session: Session, user_id: int, args: UpdateTaskArgs) -> ToolOutcome:
    task = tasks_service.get_task(session, user_id, args.task_id)
    if task is None:
        return _not_found(args.task_id)
    changes = {
        name: getattr(args, name)
        for name in args.model_fields_set - {"task_id"}
        if not (name in ("title", "priority", "completed") and getattr(args, name) is None)
    }
    tasks_service.update_task(session, task, changes)
    public = TaskPublic.model_validate(task)
    return ToolOutcome(
        {"ok": True, "task": _task_json(task)}, AssistantAction(type="updated", task=public)
    )


def _complete(session: Session, user_id: int, args: CompleteTaskArgs) -> ToolOutcome:
    return _update(session, user_id, UpdateTaskArgs(task_id=args.task_id, completed=args.completed))


def _delete(session: Session, user_id: int, args: TaskIdArgs) -> ToolOutcome:
    task = tasks_service.get_task(session, user_id, args.task_id)
    if task is None:
        return _not_found(args.task_id)
    public = TaskPublic.model_validate(task)
    tasks_service.delete_task(session, task)
    return ToolOutcome(
        {"ok": True, "deleted_task_id": args.task_id}, AssistantAction(type="deleted", task=public)
    )


_HANDLERS: dict[str, tuple[type[BaseModel], Callable[..., ToolOutcome]]] = {
    "add_task": (AddTaskArgs, _add),
    "list_tasks": (ListTasksArgs, _list),
    "update_task": (UpdateTaskArgs, _update),
    "complete_task": (CompleteTaskArgs, _complete),
    "delete_task": (TaskIdArgs, _delete),
}


def execute(session: Session, user_id: int, name: str, raw_arguments: str | None) -> ToolOutcome:
    handler = _HANDLERS.get(name)
    if handler is None:
        return ToolOutcome({"ok": False, "error": f"unknown tool {name!r}"})
    model, function = handler
    try:
        arguments = json.loads(raw_arguments or "{}")
        if not isinstance(arguments, dict):
            raise ValueError
    except ValueError:
        return ToolOutcome({"ok": False, "error": "arguments are not a JSON object"})
    try:
        args = model.model_validate(arguments)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        ]
        return ToolOutcome({"ok": False, "error": "invalid arguments: " + "; ".join(problems)})
    return function(session, user_id, args)
