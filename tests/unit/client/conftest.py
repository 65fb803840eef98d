"""An in-memory fake of the asktell HTTP API, served through `httpx.MockTransport`."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pydantic
import pytest

import asktell_client._client as client_module
from asktell_client import AsyncClient, Client
from asktell_client.types import (
    AskRequest,
    ReportRequest,
    Study,
    StudyCreate,
    StudyExport,
    StudyUpdate,
    TellRequest,
    Trial,
    TrialCreate,
)

BASE_URL = "http://asktell.test"


def error(status: int, code: str, message: str, field: str | None = None, **headers: str):
    """An asktell error response."""
    body = {"error": {"code": code, "message": message, "field": field}}
    return httpx.Response(status, json=body, headers=headers)


@dataclass
class Fault:
    """A canned answer for the next request matching `method` and `path` (a regex)."""

    method: str
    path: str
    answer: httpx.Response | Exception
    after: bool = False  # process the request first, then answer with the fault


@dataclass
class Call:
    method: str
    path: str
    headers: httpx.Headers
    body: Any
    params: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class FakeServer:
    """Enough of the server to drive the SDK: studies, ask (200 or 202), tell, report..."""

    SPACE = [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]
    error = staticmethod(error)

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.studies: dict[int, dict[str, Any]] = {}
        self.trials: dict[int, dict[str, Any]] = {}
        self.operations: dict[int, dict[str, Any]] = {}
        self.asks: dict[str, list[int]] = {}
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.ask_mode = "sync"  # or "operation": answer asks with 202
        self.polls_until_done = 2
        self.operation_error: str | None = None
        self.page_size = 2
        self.should_stop_after_step: int | None = None
        self._ids = itertools.count(1)
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., httpx.Response]]] = [
            ("POST", re.compile(r"/v1/studies"), self.create_study),
            ("GET", re.compile(r"/v1/studies"), self.list_studies),
            ("POST", re.compile(r"/v1/studies:import"), self.import_study),
            ("GET", re.compile(r"/v1/studies/(\d+)"), self.read_study),
            ("PATCH", re.compile(r"/v1/studies/(\d+)"), self.update_study),
            ("DELETE", re.compile(r"/v1/studies/(\d+)"), self.delete_study),
            ("GET", re.compile(r"/v1/studies/(\d+):export"), self.export_study),
            ("POST", re.compile(r"/v1/studies/(\d+)/trials:ask"), self.ask),
            ("GET", re.compile(r"/v1/studies/(\d+)/trials"), self.list_trials),
            ("POST", re.compile(r"/v1/studies/(\d+)/trials"), self.create_trial),
            ("GET", re.compile(r"/v1/studies/(\d+)/trials:best"), self.best),
            ("GET", re.compile(r"/v1/studies/(\d+)/trials:pareto"), self.pareto),
            ("GET", re.compile(r"/v1/operations/(\d+)"), self.read_operation),
            ("GET", re.compile(r"/v1/trials/(\d+)"), self.read_trial),
            ("POST", re.compile(r"/v1/trials/(\d+):tell"), self.tell),
            ("POST", re.compile(r"/v1/trials/(\d+):report"), self.report),
            ("POST", re.compile(r"/v1/trials/(\d+):heartbeat"), self.heartbeat),
            ("GET", re.compile(r"/v1/strategies"), self.strategies),
        ]

    # ------------------------------------------------------------------ plumbing

    def fault(self, method: str, path: str, *answers: httpx.Response | Exception, after=False):
        """Queue answers for the next requests matching method and path regex."""
        self.faults.extend(Fault(method, path, a, after) for a in answers)

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and re.fullmatch(pattern, c.path)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path
        params = dict(request.url.params)
        with self.lock:
            self.calls.append(Call(request.method, path, request.headers, body, params))
            fault = self._take_fault(request.method, path)
        if fault is not None and not fault.after:
            return self._answer(fault.answer, request)
        response = self._route(request.method, path, body, params)
        if fault is not None:
            return self._answer(fault.answer, request)
        return response

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.method == method and re.fullmatch(fault.path, path):
                return self.faults.pop(i)
        return None

    @staticmethod
    def _answer(answer: httpx.Response | Exception, request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            if isinstance(answer, httpx.RequestError):
                answer.request = request
            raise answer
        return answer

    def _route(self, method: str, path: str, body: Any, params: dict[str, str]):
        for route_method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                try:
                    with self.lock:
                        return handler(*(int(g) for g in match.groups()), body=body, params=params)
                except pydantic.ValidationError as err:
                    first = err.errors()[0]
                    loc = ".".join(str(p) for p in first["loc"])
                    return error(422, "invalid_input", first["msg"], loc or None)
                except KeyError:
                    return error(404, "not_found", f"{path} does not exist")
        return error(404, "not_found", f"no route {method} {path}")

    # ------------------------------------------------------------------ studies

    def _study(self, data: dict[str, Any]) -> dict[str, Any]:
        return Study.model_validate(data).model_dump(mode="json")

    def create_study(self, body: Any, params: Any) -> httpx.Response:
        spec = StudyCreate.model_validate(body)
        if any(s["name"] == spec.name for s in self.studies.values()):
            return error(409, "duplicate_name", f"a study named {spec.name} exists", "name")
        study_id = next(self._ids)
        self.studies[study_id] = self._study(
            {
                **spec.model_dump(mode="json"),
                "id": study_id,
                "state": "running",
                "created_at": _now(),
                "updated_at": _now(),
            }
        )
        return httpx.Response(201, json=self.studies[study_id])

    def list_studies(self, body: Any, params: dict[str, str]) -> httpx.Response:
        items = [s for s in self.studies.values() if params.get("name") in (None, s["name"])]
        return self._page(items, params)

    def _page(self, items: list[Any], params: dict[str, str]) -> httpx.Response:
        start = int(params.get("cursor", 0))
        size = int(params.get("limit", self.page_size))
        end = start + size
        cursor = str(end) if end < len(items) else None
        return httpx.Response(200, json={"items": items[start:end], "next_cursor": cursor})

    def read_study(self, study_id: int, body: Any, params: Any) -> httpx.Response:
        return httpx.Response(200, json=self.studies[study_id])

    def update_study(self, study_id: int, body: Any, params: Any) -> httpx.Response:
        change = StudyUpdate.model_validate(body).model_dump(mode="json", exclude_none=True)
        self.studies[study_id] = self._study({**self.studies[study_id], **change})
        return httpx.Response(200, json=self.studies[study_id])

    def delete_study(self, study_id: int, body: Any, params: Any) -> httpx.Response:
        del self.studies[study_id]
        return httpx.Response(204)

    def export_study(self, study_id: int, body: Any, params: Any) -> httpx.Response:
        study = self.studies[study_id]
        spec = {k: study[k] for k in StudyCreate.model_fields}
        trials = [
            {k: t[k] for k in ("state", "params", "values", "created_at")}
            for t in self.trials.values()
            if t["study_id"] == study_id
        ]
        export = StudyExport.model_validate({"study": spec, "trials": trials})
        return httpx.Response(200, json=export.model_dump(mode="json"))

    def import_study(self, body: Any, params: Any) -> httpx.Response:
        export = StudyExport.model_validate(body)
        response = self.create_study(export.study.model_dump(mode="json"), params)
        study_id = response.json()["id"]
        for t in export.trials:
            self._new_trial(study_id, t.params, t.state.value, t.values)
        return response

    # ------------------------------------------------------------------ trials

    def _new_trial(self, study_id: int, params: dict[str, Any], state: str, values=None):
        trial_id = next(self._ids)
        self.trials[trial_id] = Trial.model_validate(
            {
                "id": trial_id,
                "study_id": study_id,
                "state": state,
                "params": params,
                "values": values,
                "created_at": _now(),
            }
        ).model_dump(mode="json")
        return self.trials[trial_id]

    def _suggest(self, study_id: int) -> dict[str, Any]:
        n = len(self.trials) + 1
        params: dict[str, Any] = {}
        for p in self.studies[study_id]["space"]:
            if p["type"] == "float":
                params[p["name"]] = p["low"] + (p["high"] - p["low"]) * ((n * 0.37) % 1)
            elif p["type"] == "int":
                params[p["name"]] = p["low"]
            elif p["type"] == "categorical":
                params[p["name"]] = p["choices"][n % len(p["choices"])]
            else:
                params[p["name"]] = p["value"]
        return params

    def ask(self, study_id: int, body: Any, params: Any) -> httpx.Response:
        req = AskRequest.model_validate(body)
        study = self.studies[study_id]
        if req.request_id in self.asks:
            ids = self.asks[req.request_id]
        else:
            ids = [
                self._new_trial(study_id, self._suggest(study_id), "running")["id"]
                for _ in range(req.count)
            ]
            self.asks[req.request_id or f"anon-{len(self.asks)}"] = ids
        trials = [self.trials[i] for i in ids]
        assert study["id"] == study_id
        if self.ask_mode == "operation":
            op_id = next(self._ids)
            self.operations[op_id] = {
                "id": op_id,
                "study_id": study_id,
                "done": False,
                "count": req.count,
                "trials": [],
                "error": None,
                "_polls": 0,
                "_trials": trials,
            }
            return httpx.Response(202, json=self._operation(op_id))
        return httpx.Response(200, json={"trials": trials})

    def _operation(self, op_id: int) -> dict[str, Any]:
        return {k: v for k, v in self.operations[op_id].items() if not k.startswith("_")}

    def read_operation(self, op_id: int, body: Any, params: Any) -> httpx.Response:
        op = self.operations[op_id]
        op["_polls"] += 1
        if op["_polls"] >= self.polls_until_done:
            op["done"] = True
            if self.operation_error:
                op["error"] = self.operation_error
            else:
                op["trials"] = op["_trials"]
        return httpx.Response(200, json=self._operation(op_id))

    def list_trials(self, study_id: int, body: Any, params: dict[str, str]) -> httpx.Response:
        items = [
            t
            for t in self.trials.values()
            if t["study_id"] == study_id and params.get("state") in (None, t["state"])
        ]
        return self._page(items, params)

    def create_trial(self, study_id: int, body: Any, params: Any) -> httpx.Response:
        spec = TrialCreate.model_validate(body)
        state = "completed" if spec.values else "pending"
        trial = self._new_trial(study_id, spec.params, state, spec.values)
        return httpx.Response(201, json=trial)

    def _completed(self, study_id: int) -> list[dict[str, Any]]:
        return [
            t
            for t in self.trials.values()
            if t["study_id"] == study_id and t["state"] == "completed"
        ]

    def best(self, study_id: int, body: Any, params: Any) -> httpx.Response:
        name = self.studies[study_id]["objectives"][0]["name"]
        done = self._completed(study_id)
        if not done:
            return error(404, "no_completed_trials", "no trial has completed yet")
        return httpx.Response(200, json=min(done, key=lambda t: t["values"][name]))

    def pareto(self, study_id: int, body: Any, params: Any) -> httpx.Response:
        return httpx.Response(200, json={"trials": self._completed(study_id)})

    def read_trial(self, trial_id: int, body: Any, params: Any) -> httpx.Response:
        return httpx.Response(200, json=self.trials[trial_id])

    def tell(self, trial_id: int, body: Any, params: Any) -> httpx.Response:
        req = TellRequest.model_validate(body)
        trial = self.trials[trial_id]
        if trial["state"] in ("completed", "failed", "stopped"):
            same = trial["state"] == req.state and trial["values"] == req.values
            if not same:
                return error(409, "conflicting_tell", "the trial was told otherwise", "values")
            return httpx.Response(200, json=trial)
        trial.update(state=req.state, values=req.values, failure_reason=req.reason)
        return httpx.Response(200, json=trial)

    def report(self, trial_id: int, body: Any, params: Any) -> httpx.Response:
        req = ReportRequest.model_validate(body)
        trial = self.trials[trial_id]
        trial["intermediate"][str(req.step)] = req.values
        stop = self.should_stop_after_step is not None and req.step >= self.should_stop_after_step
        return httpx.Response(200, json={"should_stop": stop})

    def heartbeat(self, trial_id: int, body: Any, params: Any) -> httpx.Response:
        trial = self.trials[trial_id]
        return httpx.Response(200, json={"state": trial["state"], "should_stop": False})

    def strategies(self, body: Any, params: Any) -> httpx.Response:
        return httpx.Response(200, json=[{"name": "random", "description": "d", "inline": True}])


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record retry/poll sleeps instead of sleeping."""
    delays: list[float] = []

    async def async_sleep(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr(client_module, "_sleep", delays.append)
    monkeypatch.setattr(client_module, "_async_sleep", async_sleep)
    return delays


@pytest.fixture
def client(server: FakeServer, sleeps: list[float]) -> Iterator[Client]:
    http = httpx.Client(transport=httpx.MockTransport(server))
    with Client(base_url=BASE_URL, token="tok", http_client=http) as c:
        yield c
    http.close()


@pytest.fixture
def make_async_client(server: FakeServer, sleeps: list[float]) -> Callable[[], AsyncClient]:
    """Builds an AsyncClient inside the running event loop of a test."""

    def make() -> AsyncClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(server))
        return AsyncClient(base_url=BASE_URL, token="tok", http_client=http)

    return make
