"""The function tools the model may call, and their execution against one user's tasks.

Every tool is scoped to the calling user exactly like the HTTP API: a task id that is not
the user's is "not found", so the model cannot read or change anyone else's tasks.
Bad arguments come back to the model as an error result (it can correct itself); they never
raise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from .. import tasks_service
from ..schemas import (
    AssistantAction,
    Priority,
    SearchText,
    StatusFilter,
    TaskCreate,
    TaskListQuery,
    TaskPublic,
    TaskUpdate,
)

MAX_LISTED = 50
# What a list result may hold: descriptions are shortened and tasks beyond the budget left
# out (the model is told so and can narrow the search), so one call cannot flood the context.
DESCRIPTION_PREVIEW = 200
LIST_RESULT_BUDGET = 6_000


class _Args(BaseModel):
    # Models sometimes add keys we did not ask for; ignore them rather than fail the call.
    model_config = ConfigDict(extra="ignore")


class AddTaskArgs(TaskCreate):
    """The API's create body (same fields and limits), tolerant of extra keys like _Args."""

    model_config = ConfigDict(extra="ignore")


class ListTasksArgs(_Args):
    status: StatusFilter = "all"
    priority: Priority | None = None
    q: (
        Annotated[SearchText, Field(description="text to search in title and description")] | None
    ) = None


class TaskIdArgs(_Args):
    task_id: Annotated[
        int,
        Field(ge=1, le=2**63 - 1, description="id of one of the user's tasks (from list_tasks)"),
    ]


class UpdateTaskArgs(TaskUpdate, TaskIdArgs):
    """The API's partial-update body (same fields, limits and "no null" rules) plus the task's
    id, tolerant of extra keys like _Args."""

    model_config = ConfigDict(extra="ignore")


class CompleteTaskArgs(TaskIdArgs):
    completed: bool = True


class ToolOutcome:
    def __init__(self, result: dict[str, Any], action: AssistantAction | None = None) -> None:
        self.result = result
        self.action = action


def _task_json(task: Any) -> dict[str, Any]:
    return TaskPublic.model_validate(task).model_dump(mode="json")


def _not_found(task_id: int) -> ToolOutcome:
    return ToolOutcome({"ok": False, "error": f"task {task_id} not found"})


def _add(session: Session, user_id: int, args: AddTaskArgs) -> ToolOutcome:
    try:
        task = tasks_service.create_task(session, user_id, **args.model_dump())
    except tasks_service.TaskLimitReached as exc:
        return ToolOutcome({"ok": False, "error": f"task limit reached: {exc}"})
    public = TaskPublic.model_validate(task)
    return ToolOutcome(
        {"ok": True, "task": _task_json(task)}, AssistantAction(type="created", task=public)
    )


def _list(session: Session, user_id: int, args: ListTasksArgs) -> ToolOutcome:
    flt = TaskListQuery(status=args.status, priority=args.priority, q=args.q, limit=MAX_LISTED)
    items, total = tasks_service.list_tasks(session, user_id, flt)
    tasks, used = [], 0
    for item in items:
        task = _task_json(item)
        if task["description"] and len(task["description"]) > DESCRIPTION_PREVIEW:
            task["description"] = task["description"][:DESCRIPTION_PREVIEW] + "..."
        used += len(json.dumps(task, ensure_ascii=False))
        if used > LIST_RESULT_BUDGET:
            break
        tasks.append(task)
    result: dict[str, Any] = {"ok": True, "total": total, "tasks": tasks}
    if len(tasks) < total:
        result["note"] = (
            f"showing {len(tasks)} of {total}; filter by status, priority or q to see others"
        )
    return ToolOutcome(result)


def _update(session: Session, user_id: int, args: UpdateTaskArgs) -> ToolOutcome:
    task = tasks_service.get_task(session, user_id, args.task_id)
    if task is None:
        return _not_found(args.task_id)
    changes = args.changes()
    changes.pop("task_id", None)
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


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    arguments: type[BaseModel]
    handler: Callable[[Session, int, Any], ToolOutcome]

    def schema(self) -> dict[str, Any]:
        """The Chat Completions function definition, generated from the argument model so
        the model is told exactly the fields and limits that validation will apply."""
        generated = self.arguments.model_json_schema()
        properties = {
            name: _tool_property(prop) for name, prop in generated.get("properties", {}).items()
        }
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": properties,
                    "required": generated.get("required", []),
                    "additionalProperties": False,
                },
            },
        }


def _tool_property(prop: dict[str, Any]) -> dict[str, Any]:
    # An optional field is "omit it", not "send null": offer the model the non-null branch.
    branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        prop = {**branches[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
    clean = {k: v for k, v in prop.items() if k != "title" and not (k == "default" and v is None)}
    if clean.get("format") == "date" and "description" not in clean:
        # Models follow a worded format more reliably than a bare "format" keyword.
        clean["description"] = "ISO date YYYY-MM-DD"
    return clean


TOOL_TABLE: tuple[Tool, ...] = (
    Tool("add_task", "Create a task for the user.", AddTaskArgs, _add),
    Tool(
        "list_tasks",
        f"List the user's tasks, newest first (at most {MAX_LISTED}).",
        ListTasksArgs,
        _list,
    ),
    Tool(
        "update_task",
        "Change fields of one task; only the given fields change.",
        UpdateTaskArgs,
        _update,
    ),
    Tool(
        "complete_task",
        "Mark one task as done (or, with completed=false, as not done).",
        CompleteTaskArgs,
        _complete,
    ),
    Tool("delete_task", "Delete one task.", TaskIdArgs, _delete),
)
_BY_NAME = {tool.name: tool for tool in TOOL_TABLE}
TOOLS: list[dict[str, Any]] = [tool.schema() for tool in TOOL_TABLE]


def execute(session: Session, user_id: int, name: str, raw_arguments: str | None) -> ToolOutcome:
    tool = _BY_NAME.get(name)
    if tool is None:
        return ToolOutcome({"ok": False, "error": f"unknown tool {name!r}"})
    try:
        arguments = json.loads(raw_arguments or "{}")
        if not isinstance(arguments, dict):
            raise ValueError
    except ValueError:
        return ToolOutcome({"ok": False, "error": "arguments are not a JSON object"})
    try:
        args = tool.arguments.model_validate(arguments)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        ]
        return ToolOutcome({"ok": False, "error": "invalid arguments: " + "; ".join(problems)})
    return tool.handler(session, user_id, args)
