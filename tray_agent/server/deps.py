"""What every sync route needs: the service layer, the accounts, and the caller — the agent
the request's device token names. A missing, unknown or revoked token is a 401.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from tray_agent.app import App
from tray_agent.core.service import Inbox
from tray_agent.server.accounts import Accounts, Caller


def get_app(request: Request) -> App:
    return request.app.state.app


def get_inbox(request: Request) -> Inbox:
    return get_app(request).inbox


def get_accounts(request: Request) -> Accounts:
    return request.app.state.accounts


def get_caller(request: Request) -> Caller:
    """Runs in the thread pool (a sync dependency): one indexed lookup by the token's hash."""
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    caller = get_accounts(request).authenticate(token)
    if caller is None:
        raise HTTPException(401, "Sign in again: this device's token is missing, unknown or revoked.",
                            headers={"WWW-Authenticate": "Bearer"})
    return caller


AppDep = Annotated[App, Depends(get_app)]
InboxDep = Annotated[Inbox, Depends(get_inbox)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]
CallerDep = Annotated[Caller, Depends(get_caller)]
