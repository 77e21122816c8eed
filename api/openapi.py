"""The OpenAPI 3.1 document of the admin API, BFF and webhook (served at /api/openapi.json)."""

from __future__ import annotations

from typing import Any

from schemas.events import SYNC_STATUSES
from schemas.outbound import OPERATIONS

_ERROR = {"$ref": "#/components/schemas/Error"}
_OBJ: dict[str, Any] = {"type": "object"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {400: "malformed request", 401: "missing or wrong bearer token",
             404: "not found", 413: "body too large", 415: "unsupported content type",
             503: "a dependency (Kafka, PostgreSQL) is unavailable"}
    return {str(c): _json(_ERROR, texts[c]) for c in codes}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_PAGE = [_query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "page size"),
         _query("offset", {"type": "integer", "minimum": 0, "maximum": 10_000_000},
                "rows to skip")]
_ENTITY = {"type": "string", "enum": ["item", "stock", "location", "contact", "salesorder",
                                      "invoice", "customerpayment", "creditnote", "bill",
                                      "vendorpayment"]}
# PostgreSQL text cannot hold NUL, so a filter with one can match nothing: refused.
_NO_NUL = "^[^\\u0000]*$"
_SYNCABLE = {"type": "string", "enum": ["all", "item", "contact", "salesorder", "invoice",
                                       "customerpayment", "creditnote", "bill",
                                       "vendorpayment", "location"]}
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_TEXT = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": _NO_NUL}
_KEY_PART = {"type": "string", "minLength": 1, "maxLength": 200,
             "pattern": "^[^:\\u0000]+$"}  # part of the Kafka key: no ':'
_TIME = {"type": "string", "format": "date-time"}
# Field values as JSON without NUL (PostgreSQL's jsonb cannot hold one: refused with 400)
# and numbers JSON parsers agree on; two levels, as Zoho's bodies (lines hold objects).
_SCALAR: dict[str, Any] = {"anyOf": [
    {"type": "string", "maxLength": 500, "pattern": _NO_NUL},
    {"type": "number", "minimum": -1e15, "maximum": 1e15}, {"type": "boolean"},
    {"type": "null"}]}
_NAMES = {"pattern": _NO_NUL, "maxLength": 100}
_FLAT = {"type": "object", "propertyNames": _NAMES, "additionalProperties": _SCALAR}
_VALUE = {"anyOf": [_SCALAR, _FLAT, {"type": "array", "maxItems": 20,
                                     "items": {"anyOf": [_SCALAR, _FLAT]}}]}
_FIELDS = {"type": "object", "propertyNames": _NAMES, "additionalProperties": _VALUE,
           "description": "Zoho's field names and values"}


def _command(entity: str, operation: str) -> dict[str, Any]:
    """The schema of one (entity, operation) command: schemas/outbound.py's rules."""
    props: dict[str, Any] = {
        "command_id": {**_TEXT, "description": "idempotency key (generated when left out)"},
        "org_id": _KEY_PART, "entity_type": {"const": entity},
        "operation": {"const": operation}, "requested_by": _TEXT, "requested_at": _TIME}
    required = ["org_id", "entity_type", "operation"]
    rules: dict[str, Any] = {}
    if operation == "create":
        props["erp_ref"] = {**_TEXT, "description": "the ERP's own id of the record"}
        props["fields"] = {**_FIELDS, "minProperties": 1}
        required += ["erp_ref", "fields"]
        if entity == "inventoryadjustment":
            props["fields"] = {**props["fields"], "required": ["adjustment_type", "line_items"],
                               "properties": {
                                   "adjustment_type": {"enum": ["quantity", "value"]},
                                   "line_items": {"type": "array", "minItems": 1,
                                                  "maxItems": 20, "items": _FLAT}}}
    else:
        props["entity_id"] = {**_KEY_PART, "description": "the Zoho id"}
        props["base_version"] = {**_TIME, "description": "Zoho last_modified_time seen"}
        props["force"] = {"type": "boolean", "description": "overwrite a newer record"}
        required.append("entity_id")
        rules = {"if": {"required": ["force"], "properties": {"force": {"const": True}}},
                 "then": {"required": ["base_version"]}}
        if operation == "update":
            props["fields"] = {**_FIELDS, "minProperties": 1}
            required.append("fields")
        elif operation == "delete":
            props["fields"] = {"type": "object", "maxProperties": 0}
        else:
            props["fields"] = _FIELDS
    return {"type": "object", "required": required, "properties": props,
            "additionalProperties": False, **rules}


_COMMAND: dict[str, Any] = {"oneOf": [_command(entity, operation)
                                      for entity, operations in OPERATIONS.items()
                                      for operation in operations]}


def document() -> dict[str, Any]:
    """The whole document."""
    # Reads need the token too unless TDS_API_OPEN_READS=true.
    get_ok = {"200": _json(_OBJ, "ok"), **_errors(400, 401, 503)}
    read = {"security": _BEARER, "responses": get_ok}
    accepted = {"202": _json(_OBJ, "accepted: a command was published"),
                **_errors(400, 401, 503)}
    return {
        "openapi": "3.1.0",
        "info": {"title": "TDS admin API", "version": "2.0.0",
                 "description": "TSH Data Sync: health, queue, sync runs, dead letters, "
                                "manual syncs, the BFF and the Zoho webhook."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "detail"],
                                  "properties": {"error": {"type": "string"},
                                                 "detail": {"type": "string"}}}},
        },
        "paths": {
            "/api/tds/health": {"get": {
                "summary": "Health from real checks of Kafka, PostgreSQL and the groups "
                           "(without the token: only the status)",
                "responses": {"200": _json(_OBJ, "healthy or degraded"),
                              "503": _json(_OBJ, "unhealthy")}}},
            "/api/tds/status": {"get": {"summary": "Lag, entity counts, dead letters, runs",
                                        **read}},
            "/api/tds/queue": {"get": {"summary": "Lag by group, topic and priority, rate, ETA",
                                       **read}},
            "/api/tds/history": {"get": {"summary": "Chart series over time", **read}},
            "/api/tds/sync": {"post": {
                "summary": "Start a manual sync (publishes a command)", "security": _BEARER,
                "requestBody": {"required": False, "content": {"application/json": {
                    "schema": {"type": "object", "properties": {
                        "entity_type": {
                            "description": "one entity, several, or all (null or 'all'); "
                                           "aliases such as products or customers work too",
                            "oneOf": [_SYNCABLE, {"type": "null"},
                                      {"type": "array", "items": _SYNCABLE, "minItems": 1}]},
                        "source": {"type": "string", "enum": ["zoho"]},
                        "mode": {"type": "string", "enum": ["full", "incremental"]}}}}}},
                "responses": accepted}},
            "/api/tds/stock/sync": {"post": {"summary": "Start a stock sync",
                                             "security": _BEARER, "responses": accepted}},
            "/api/tds/sync-runs": {"get": {
                "summary": "Sync runs, newest first",
                "parameters": [*_PAGE,
                               _query("after", {"type": "string", "maxLength": 400,
                                                "pattern": _NO_NUL},
                                      "the `next` cursor of the previous page (keyset "
                                      "paging; not with offset)"),
                               _query("status", {"type": "string",
                                                 "enum": list(SYNC_STATUSES)}, "run status"),
                               _query("run_type", {"type": "string", "enum": [
                                   "full", "incremental", "stock", "manual"]}, "run type"),
                               _query("entity_type", _ENTITY, "entity type")],
                **read}},
            "/api/tds/sync-runs/{run_id}": {"get": {
                "summary": "One run with its changes (format=log: a text file)",
                "security": _BEARER,
                "parameters": [{"name": "run_id", "in": "path", "required": True,
                                "schema": {"type": "string"}},
                               _query("format", {"type": "string", "enum": ["json", "log"]},
                                      "json (default) or log")],
                "responses": {"200": {"description": "the run",
                                      "content": {"application/json": {"schema": _OBJ},
                                                  "text/plain": {"schema": {
                                                      "type": "string"}}}},
                              **_errors(400, 401, 404, 503)}}},
            "/api/tds/deadletter": {"get": {
                "summary": "Dead letters, newest first",
                "parameters": [*_PAGE,
                               _query("status", {"type": "string", "enum": [
                                   "pending", "retried", "resolved"]}, "status"),
                               _query("stage", {"type": "string", "maxLength": 50,
                                                "pattern": _NO_NUL}, "stage"),
                               _query("entity_type", _ENTITY, "entity type"),
                               _query("error_class", {"type": "string", "maxLength": 200,
                                                      "pattern": _NO_NUL}, "error class")],
                **read}},
            "/api/tds/deadletter/retry": {"post": {
                "summary": "Send dead letters back to the stage that failed",
                "security": _BEARER,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"oneOf": [
                        {"type": "object", "required": ["ids"], "properties": {
                            "ids": {"type": "array", "minItems": 1, "items": {
                                "type": "string", "maxLength": 299, "pattern": _NO_NUL}}}},
                        {"type": "object", "required": ["all"],
                         "properties": {"all": {"const": True}}}]}}}},
                "responses": accepted}},
            "/api/tds/outbound": {
                "post": {
                    "summary": "Write back to Zoho: one command or a list (published to "
                               "tds.outbound; 400 names the field, and nothing is published)",
                    "security": _BEARER,
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"oneOf": [_COMMAND, {"type": "array", "minItems": 1,
                                                        "maxItems": 500,
                                                        "items": _COMMAND}]}}}},
                    "responses": accepted},
                "get": {
                    "summary": "Write-back commands, newest first (keyset paging)",
                    "parameters": [
                        _PAGE[0],
                        _query("after", {"type": "string", "maxLength": 400,
                                         "pattern": _NO_NUL},
                               "the `next` cursor of the previous page"),
                        _query("status", {"type": "string", "enum": [
                            "accepted", "sending", "retrying", "applied", "rejected",
                            "conflict", "dead"]}, "status"),
                        _query("entity_type", {"type": "string", "enum": list(OPERATIONS)},
                               "entity type"),
                        _query("operation", {"type": "string", "enum": sorted(
                            {o for ops in OPERATIONS.values() for o in ops})}, "operation"),
                        _query("erp_ref", {"type": "string", "maxLength": 200,
                                           "pattern": _NO_NUL}, "the ERP's id"),
                        _query("requested_by", {"type": "string", "maxLength": 200,
                                                "pattern": _NO_NUL}, "who asked")],
                    **read}},
            "/api/tds/outbound/{command_id}": {"get": {
                "summary": "One write-back command: status, Zoho's id, version and answer",
                "security": _BEARER,
                "parameters": [{"name": "command_id", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": _json(_OBJ, "the command"),
                              **_errors(400, 401, 404, 503)}}},
            "/api/bff/tds/status": {"get": {"summary": "Compact status for mobile", **read}},
            "/api/bff/tds/recent": {"get": {"summary": "Recent runs and changes", **read}},
            "/api/webhooks/zoho": {"post": {
                "summary": "Zoho webhook (also PUT, DELETE; /api/webhooks/zoho/{entity}); "
                           "served on the webhook listener only (TDS_WEBHOOK_PORT)",
                "responses": {"200": _json(_OBJ, "published (after Kafka's ack)"),
                              **_errors(400, 401, 413, 415, 503)}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "security": _BEARER,
                                 "responses": {"200": {"description": "text exposition"},
                                               **_errors(401)}}},
        },
    }
