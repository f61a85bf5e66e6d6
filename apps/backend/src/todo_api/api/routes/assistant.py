"""POST /api/v1/assistant/chat: natural language in, reply plus the task changes out."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status

from ...assistant.openai_client import UpstreamError
from ...assistant.service import (
    Budgets,
    BudgetSpent,
    ConversationBusy,
    ConversationNotFound,
    chat,
)
from ...schemas import ChatRequest, ChatResponse
from ..deps import CurrentUser, SessionDep, SettingsDep
from ..responses import AUTHENTICATED, CHANGES, WITH_BODY

router = APIRouter(prefix="/assistant", tags=["assistant"], responses=AUTHENTICATED)

NOT_CONFIGURED = "The assistant is not configured on this server (no OPENAI_API_KEY)."


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={
        **WITH_BODY,
        **CHANGES,
        404: {"description": "conversation_id is not one of the user's conversations"},
        409: {"description": "Another message to the same conversation was being answered"},
        429: {
            "description": "Too many assistant messages, or the user's daily token budget is spent (see Retry-After)"
        },
        502: {"description": "The assistant service failed"},
        503: {
            "description": "The assistant is not configured, its daily token budget for "
            "everyone is spent (see Retry-After), or the database is down"
        },
        504: {"description": "The assistant service timed out"},
    },
)
async def assistant_chat(
    body: ChatRequest,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> ChatResponse:
    client = request.app.state.openai_client
    if client is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, NOT_CONFIGURED)
    request.app.state.throttles.check_assistant(user.id)
    budgets = Budgets(
        per_user=settings.assistant_tokens_per_user_per_day,
        total=settings.assistant_tokens_per_day,
    )
    try:
        result = await chat(session, client, user.id, body.message, body.conversation_id, budgets)
    except BudgetSpent as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE
            if exc.everyone
            else status.HTTP_429_TOO_MANY_REQUESTS,
            exc.message,
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    except ConversationNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Conversation not found") from None
    except ConversationBusy:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "Another message to this conversation was answered at the same time; send yours again.",
        ) from None
    except UpstreamError as exc:
        raise HTTPException(exc.status_code, exc.message) from None
    return ChatResponse(
        conversation_id=result.conversation_id,
        reply=result.reply,
        actions=result.actions,
        error=result.error,
    )
