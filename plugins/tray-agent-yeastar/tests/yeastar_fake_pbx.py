"""A fake Yeastar P-Series PBX on loopback that speaks the OpenAPI as documented: get_token
and refresh_token (User-Agent: OpenAPI required), call/dial?access_token=, and the event
WebSocket (subscribe, topic_list, heartbeat) that reports 30011 and 30015.

Its extensions have an outbound permission and a registered phone (or not); numbers can be
busy. As the PBX does, a dial the extension may not make is accepted (errcode 0, call_id)
and then fails with a (30015) Call Failed event. ``expire_tokens()`` makes the PBX reject
the access tokens it issued before they were due, as after a PBX restart.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

API = "/openapi/v1.0"
SN = "3631A2124XXX"
# The fake's own errcode numbers; clients must read errmsg, whose words are the PBX's.
BAD_CREDENTIALS = (40002, "USERNAME OR PASSWORD ERROR")
TOKEN_EXPIRED = (10004, "ACCESS TOKEN EXPIRED")
REFRESH_EXPIRED = (10006, "REFRESH TOKEN EXPIRED")
NO_SUCH_EXTENSION = (60003, "EXTENSION NOT EXIST")


@dataclass
class Extension:
    outbound: bool = True
    registered: bool = True


@dataclass
class FakePbx:
    client_id: str = "UEnH9Dmv6uBJEXsYcag1trNfQThYXXXX"
    client_secret: str = "ZLcXl63S9EtMnYoHUnjbVo6sA8CbXXXX"
    extensions: dict[str, Extension] = field(default_factory=lambda: {"1005": Extension()})
    busy_numbers: set[str] = field(default_factory=set)
    #: Every request: (endpoint, User-Agent, JSON body).
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    dials: list[dict[str, Any]] = field(default_factory=list)
    #: Every token it handed out, access and refresh (tests check none is logged).
    issued: list[str] = field(default_factory=list)
    _access: set[str] = field(default_factory=set)
    _refresh: set[str] = field(default_factory=set)
    _subscribers: list[tuple[asyncio.Queue, set[int]]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def expire_tokens(self) -> None:
        self._access.clear()

    def expire_refresh_tokens(self) -> None:
        self._refresh.clear()

    def endpoints(self) -> list[str]:
        return [r[0] for r in self.requests]

    # -- the OpenAPI ------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route(f"{API}/get_token", self._get_token, methods=["POST"]),
            Route(f"{API}/refresh_token", self._refresh_token, methods=["POST"]),
            Route(f"{API}/call/dial", self._dial, methods=["POST"]),
            WebSocketRoute(f"{API}/subscribe", self._subscribe),
        ])

    async def _read(self, request: Request, endpoint: str) -> dict[str, Any] | None:
        ua = request.headers.get("user-agent", "")
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = {}
        self.requests.append((endpoint, ua, body))
        return body if ua == "OpenAPI" else None

    def _issue(self) -> JSONResponse:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self._access.add(access)
        self._refresh.add(refresh)
        self.issued += [access, refresh]
        return JSONResponse({"errcode": 0, "errmsg": "SUCCESS", "access_token_expire_time": 1800,
                             "access_token": access, "refresh_token_expire_time": 86400, "refresh_token": refresh})

    async def _get_token(self, request: Request) -> Any:
        body = await self._read(request, "get_token")
        if body is None:  # the PBX does not answer clients that do not name themselves
            return PlainTextResponse("Forbidden", status_code=403)
        if (body.get("username"), body.get("password")) != (self.client_id, self.client_secret):
            return _err(BAD_CREDENTIALS)
        return self._issue()

    async def _refresh_token(self, request: Request) -> Any:
        body = await self._read(request, "refresh_token")
        if body is None:
            return PlainTextResponse("Forbidden", status_code=403)
        token = body.get("refresh_token")
        if token not in self._refresh:
            return _err(REFRESH_EXPIRED)
        self._refresh.discard(token)
        return self._issue()

    async def _dial(self, request: Request) -> Any:
        body = await self._read(request, "call/dial")
        if body is None:
            return PlainTextResponse("Forbidden", status_code=403)
        if request.query_params.get("access_token") not in self._access:
            return _err(TOKEN_EXPIRED)
        caller, callee = str(body.get("caller", "")), str(body.get("callee", ""))
        ext = self.extensions.get(caller)
        if ext is None:
            return _err(NO_SUCH_EXTENSION)
        call_id = f"1648861726.{next(self._ids)}"
        self.dials.append({**body, "call_id": call_id})
        asyncio.get_running_loop().create_task(self._play(call_id, caller, callee, ext))
        return JSONResponse({"errcode": 0, "errmsg": "SUCCESS", "call_id": call_id})

    async def _play(self, call_id: str, caller: str, callee: str, ext: Extension) -> None:
        """What the PBX reports after accepting a dial: the caller's phone rings, then the callee's."""
        await asyncio.sleep(0.05)
        me = {"extension": {"number": caller, "channel_id": f"PJSIP/{caller}-1", "member_status": "ALERT"}}
        if not ext.outbound:
            return await self._publish(30015, {"call_id": call_id, "reason": "NO Outbound Restrictin", "members": [me]})
        if not ext.registered:
            me["extension"]["member_status"] = "BYE"
            return await self._publish(30015, {"call_id": call_id, "reason": "480 Temporatily Unavailable",
                                               "members": [me]})
        me["extension"]["member_status"] = "RING"
        await self._publish(30011, {"call_id": call_id, "members": [me]})
        await asyncio.sleep(0.05)
        me["extension"]["member_status"] = "ANSWERED"
        out = {"outbound": {"from": caller, "to": callee, "trunk_name": "trunk-1", "channel_id": "PJSIP/trunk-1",
                            "member_status": "ALERT"}}
        if callee in self.busy_numbers:
            return await self._publish(30015, {"call_id": call_id, "reason": "486 Busy here", "members": [me, out]})
        await self._publish(30011, {"call_id": call_id, "members": [me, out]})

    async def _publish(self, event: int, msg: dict[str, Any]) -> None:
        # As the PBX does: ``msg`` is a JSON document inside a string.
        report = json.dumps({"type": event, "sn": SN, "msg": json.dumps(msg)})
        for queue, topics in list(self._subscribers):
            if event in topics:
                await queue.put(report)

    async def _subscribe(self, ws: WebSocket) -> None:
        self.requests.append(("subscribe", ws.headers.get("user-agent", ""), {}))
        if ws.headers.get("user-agent") != "OpenAPI" or ws.query_params.get("access_token") not in self._access:
            await ws.close(code=1008)
            return
        await ws.accept()
        queue: asyncio.Queue = asyncio.Queue()
        entry: tuple[asyncio.Queue, set[int]] = (queue, set())
        self._subscribers.append(entry)

        async def pump() -> None:
            while True:
                await ws.send_text(await queue.get())

        sender = asyncio.get_running_loop().create_task(pump())
        try:
            while True:
                text = await ws.receive_text()
                if text == "heartbeat":
                    await queue.put("heartbeat response")
                    continue
                try:
                    topics = json.loads(text)["topic_list"]
                    entry[1].update(int(t) for t in topics)
                    await queue.put(json.dumps({"errcode": 0, "errmsg": "SUCCESS"}))
                except (ValueError, KeyError, TypeError):
                    await queue.put(json.dumps({"errcode": 10002, "errmsg": "PARAMETER ERROR"}))
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            self._subscribers.remove(entry)


def _err(code: tuple[int, str]) -> JSONResponse:
    return JSONResponse({"errcode": code[0], "errmsg": code[1]})
