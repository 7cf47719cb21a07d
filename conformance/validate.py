#!/usr/bin/env python3
"""Checks the SDK's requests, clerk-mock's answers and generated responses
against Clerk's OpenAPI description with a real OpenAPI validator
(openapi-core), and prints the summary. Driven by conformance/run.sh.

    validate.py check   --spec FILE --dir DIR   validate, generate responses.jsonl, write python_report.json
    validate.py summary --dir DIR               print the table from both reports; non-zero on any failure

What `check` does (see conformance/README.md for the why):

1. Loads the description with openapi-core (which also validates the
   description itself) and finds the operations of OPS by operationId.
2. SDK requests (DIR/sdk_requests.jsonl, written by `dump`): each must be
   valid for its operation - server, path and path parameter, query
   parameters, method, security (bearer), request body schema - with
   unspecified properties forbidden. Each operation's own rule is a plain
   check (PLAIN_CHECKS), reported on its own line: revoke ids land as
   exactly one RFC 3986 path segment that decodes to the id (the
   description only says `type: string`); create bodies carry exactly the
   arguments given; lookup queries carry exactly the values given, an
   explicit limit, and no body.
3. Responses: generated from the description's response schemas for every
   documented status - optional fields absent, nullable fields null, each
   enum value, awkward strings, int64 bounds, several JSON spellings - and
   each validated against the description, so the generator cannot drift
   from it. Written to DIR/responses.jsonl for the Rust test.
4. clerk-mock exchanges (DIR/mock_exchanges.jsonl): the request the mock
   received and the response it sent, both validated. A status the
   description does not document for the operation (401 for create and
   revoke) cannot be validated
   as a response; the validator must say so, and the body is validated
   against the ClerkErrors schema instead.
5. Negative checks: hand-built wrong requests and wrong responses that the
   validator must reject, so the checks above can fail.
"""

import argparse
import copy
import json
import random
import re
import sys
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

# Every operation the SDK implements, by the short name the JSON-lines files
# use, with its operationId in the description. Everything below that is not
# about one operation's own rules (a create body, a revoke segment, a lookup
# query) reads this table.
OPS = {
    "create": "CreateSignInToken",
    "revoke": "RevokeSignInToken",
    "list_users": "GetUserList",
}
SEED = 20260512
RANDOM_PER_RESPONSE = 40

# Error codes Clerk's own (older) API reference documents for these
# operations (shared/clerk-api.md). The description leaves `code` an open
# string; these seed realistic bodies beside the schema-generated ones.
DOCUMENTED_ERRORS = {
    ("create", "403"): [("authorization_invalid", "Unauthorized request", None)],
    ("create", "404"): [("resource_not_found", "not found", None)],
    ("create", "422"): [
        ("form_param_missing", "missing required parameter", {"param_name": "user_id"}),
        ("form_param_value_invalid", "is invalid", {"param_name": "expires_in_seconds"}),
    ],
    ("revoke", "400"): [
        ("sign_in_token_cannot_be_revoked_code", "cannot revoke", None),
    ],
    ("revoke", "404"): [("resource_not_found", "not found", None)],
    ("list_users", "401"): [("authentication_invalid", "Invalid authentication", None)],
    ("list_users", "422"): [
        ("form_param_value_invalid", "is invalid", {"param_name": "email_address"}),
        ("form_param_value_invalid", "is invalid", {"param_name": "limit"}),
    ],
}

# Realistic values by property name, then awkward ones for any string.
NAMED_STRINGS = {
    "id": ["sit_26Ed5ZqqJcOjRwecRQij2ZovDdG", "user_26Ect5GuCCeaFWwSDiiKcgAGtVk"],
    "email_address": ["ann@example.com", "Test+1@Example.COM"],
    "primary_email_address_id": ["idn_29w83yL7CwVlJXylYLxcslromF1"],
    "user_id": ["user_26Ect5GuCCeaFWwSDiiKcgAGtVk"],
    "token": ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzI2RWN0NSJ9.c2lnbmF0dXJlX2J5dGVz"],
    "url": ["https://example.accounts.dev/v1/tickets/accept?ticket=eyJhbGciOiJIUzI1NiJ9.e30.c2ln"],
    "message": ["not found"],
    "long_message": ["No sign in token was found with id sit_26Ed5ZqqJcOjRwecRQij2ZovDdG."],
    "code": ["resource_not_found", "some_code_added_next_year"],
    "clerk_trace_id": ["0f1e2d3c4b5a69788796a5b4c3d2e1f0"],
}
AWKWARD_STRINGS = [
    "",
    "x",
    "üñí©ødé 日本語 😀",
    'quote " backslash \\ slash /',
    "line\nbreak\ttab\rreturn",
    "nul\u0000byte",
    "\u2028\u2029\ufeff",
    "<html><body>502 Bad Gateway</body></html>",
    '{"not":"an object"}',
    "a" * 4096,
]
# Strings for schemas with a `pattern` (the OAuth provider names in a User's
# accounts and verifications): each pattern takes the samples it matches.
PATTERN_SAMPLES = ["oauth_google", "oauth_custom_acme", "oauth_token_github", "from_oauth_google"]
INT64 = (-(2**63), 2**63 - 1)
INTEGERS = [1638000669544, 0, 1, -1, 1700000000, INT64[0], INT64[1]]
FREE_FORM_OBJECTS = [
    {},
    {"param_name": "user_id"},
    {"nested": {"list": [1, "two", None, True, 2.5]}, "n": -7},
]

# --------------------------------------------------------------------------
# Loading


def load(spec_path):
    import yaml
    from openapi_core import Config, OpenAPI

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(spec_path, encoding="utf-8") as f:
        raw = yaml.load(f, Loader=loader)  # noqa: S506 - a safe loader
    # Building the app validates the description itself, once.
    api = OpenAPI.from_dict(raw, base_uri=Path(spec_path).resolve().as_uri())
    strict = OpenAPI.from_dict(
        open_combinator_wrappers(copy.deepcopy(raw)),
        base_uri=Path(spec_path).resolve().as_uri(),
        config=Config(spec_validator_cls=None, additional_properties_default_policy="forbid"),
    )
    return api, strict, raw


def open_combinator_wrappers(node):
    """Marks `additionalProperties: true` on every schema that has no
    properties of its own but a `oneOf`/`anyOf`/`allOf` (or is one of their
    bare `required` alternatives), so that the strict validator forbids
    undocumented properties in the alternatives, which list them, and not in
    the wrapper, which lists none (a User's email address `verification` is
    such a wrapper: forbidding there would refuse every verification)."""
    if isinstance(node, list):
        for item in node:
            open_combinator_wrappers(item)
    elif isinstance(node, dict):
        combinators = [k for k in ("oneOf", "anyOf", "allOf") if k in node]
        if combinators and "properties" not in node and "additionalProperties" not in node:
            node["additionalProperties"] = True
        for k in combinators:
            for alternative in node[k]:
                if isinstance(alternative, dict) and not ({"$ref", "properties", "type"} & set(alternative)):
                    alternative.setdefault("additionalProperties", True)
        for value in node.values():
            open_combinator_wrappers(value)
    return node


def find_operations(raw):
    found = {}
    for path, item in raw.get("paths", {}).items():
        for method, op in item.items():
            if isinstance(op, dict) and op.get("operationId") in OPS.values():
                found[op["operationId"]] = (path, method, op)
    missing = [o for o in OPS.values() if o not in found]
    if missing:
        raise SystemExit(f"the description has no operation {', '.join(missing)}")
    return {short: found[op_id] for short, op_id in OPS.items()}


def resolve(raw, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise SystemExit(f"external $ref not supported: {ref}")
        node = raw
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
        if seen > 50:
            raise SystemExit(f"$ref loop at {ref}")
    return node


def shape(raw, node):
    """`resolve`, and a lone `allOf: [X]` (how the description makes a
    reference nullable) replaced by X with the outer keywords kept but
    `nullable`: OpenAPI 3.0 validators check `null` against X, which refuses
    it, so the generator must not produce it."""
    s = resolve(raw, node)
    all_of = s.get("allOf") if isinstance(s, dict) else None
    if all_of and len(all_of) == 1 and "properties" not in s:
        inner = shape(raw, all_of[0])
        outer = {k: v for k, v in s.items() if k not in ("allOf", "nullable")}
        return {**inner, **outer}
    return s


def ref_name(node):
    if isinstance(node, dict) and "$ref" in node:
        return node["$ref"].rsplit("/", 1)[-1]
    return None


# --------------------------------------------------------------------------
# Building requests and responses for openapi-core


def server_url(raw):
    return raw["servers"][0]["url"].rstrip("/")


def header(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def mock_request(raw, method, url_or_target, headers, body, base_url):
    """A MockRequest for openapi-core. A request sent to the description's
    own server is judged exactly as sent. For any other base (clerk-mock's
    `http://127.0.0.1:PORT/v1`, a caller's proxy) the part after the base is
    put after the description's server, so the request is judged as if sent
    to https://api.clerk.com/v1."""
    from openapi_core.testing import MockRequest

    url = urlsplit(url_or_target)
    server = urlsplit(server_url(raw))
    if base_url.rstrip("/") == server_url(raw) and url.scheme and url.netloc:
        # Sent to the description's own server: judged exactly as sent.
        host_url, path = f"{url.scheme}://{url.netloc}", url.path
    else:
        base = urlsplit(base_url)
        if url.scheme and url.netloc and (url.scheme, url.netloc) != (base.scheme, base.netloc):
            raise ValueError(f"{url_or_target} is not under {base_url}")
        if not url.path.startswith(base.path.rstrip("/") + "/"):
            raise ValueError(f"{url_or_target} is not under {base_url}")
        host_url = f"{server.scheme}://{server.netloc}"
        path = server.path + url.path[len(base.path.rstrip("/")):]
    content_type = header(headers, "content-type") or ""
    request = MockRequest(
        host_url,
        method.lower(),
        path,
        # The query, so that query parameters are validated too: decoded as
        # application/x-www-form-urlencoded (`+` is a space), repeated names
        # kept in order. A malformed query raises ValueError.
        args=query_args(url.query),
        headers=list(headers),
        data=body.encode("utf-8") if body else None,
        content_type=content_type,
    )
    return request, url


def query_args(query):
    """The query's (name, value) pairs, decoded strictly: a `%` without two
    hex digits or bytes that are not UTF-8 raise ValueError (Python's own
    parser would keep the one and replace the other)."""
    if re.search(r"%(?![0-9A-Fa-f]{2})", query):
        raise ValueError(f"a malformed percent escape in the query {query[:80]!r}")
    try:
        return parse_qsl(query, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as e:
        raise ValueError(f"the query does not decode as UTF-8: {e}") from e


def mock_response(status, headers, body):
    from openapi_core.testing import MockResponse

    return MockResponse(
        body.encode("utf-8"),
        status_code=status,
        headers=list(headers),
        content_type=header(headers, "content-type") or "",
    )


def describe(error):
    """One line for a validator error: its type and what it says."""
    cause = error.__cause__ or error.__context__
    schema_errors = getattr(cause, "schema_errors", None) or getattr(error, "schema_errors", None)
    if schema_errors:
        detail = "; ".join(e.message for e in schema_errors)
    elif cause is not None and str(cause):
        detail = f"{type(cause).__name__}: {cause}"
    else:
        detail = str(error) or type(cause).__name__
    line = f"{type(error).__name__}: {detail}".replace("\n", " ")
    return line if len(line) <= 300 else line[:297] + "..."


# --------------------------------------------------------------------------
# Response generation from the description's schemas


class Generator:
    def __init__(self, raw):
        self.raw = raw

    def strings(self, name, pattern=None):
        values = NAMED_STRINGS.get(name, []) + AWKWARD_STRINGS
        if pattern is None:
            return values
        matching = [v for v in values + PATTERN_SAMPLES if re.search(pattern, v)]
        if not matching:
            raise SystemExit(f"no sample string matches the pattern {pattern!r} of {name!r}")
        return matching

    def alternatives(self, s):
        """The schemas of a `oneOf`, or None."""
        return [shape(self.raw, a) for a in s["oneOf"]] if "oneOf" in s else None

    def leaf_values(self, schema, name):
        s = shape(self.raw, schema)
        if "enum" in s:
            values = list(s["enum"])
        elif s.get("type") == "string":
            values = self.strings(name, s.get("pattern"))
        elif s.get("type") == "integer":
            lo = s.get("minimum", INT64[0] if s.get("format") == "int64" else -(2**31))
            hi = s.get("maximum", INT64[1] if s.get("format") == "int64" else 2**31 - 1)
            values = [i for i in INTEGERS if lo <= i <= hi] or [lo]
        elif s.get("type") == "number":
            values = [0, 1.5, -2.25]
        elif s.get("type") == "boolean":
            values = [True, False]
        else:
            raise SystemExit(f"no generator for schema {s}")
        if s.get("nullable"):
            values.append(None)
        return values

    def is_free_form(self, s):
        return s.get("type") == "object" and not s.get("properties")

    def base(self, schema, name=""):
        s = shape(self.raw, schema)
        alternatives = self.alternatives(s)
        if alternatives:
            return self.base(alternatives[0], name)
        if s.get("type") == "object" and s.get("properties"):
            return {p: self.base(ps, p) for p, ps in s["properties"].items()}
        if self.is_free_form(s):
            return dict(FREE_FORM_OBJECTS[1])
        if s.get("type") == "array":
            return [self.base(s["items"], name)]
        return self.leaf_values(s, name)[0]

    def variants(self, schema, name=""):
        """The base instance, then instances that each differ from it in one
        place: an optional property absent, a nullable one null, each enum
        value, each sample value, recursively; and the required-only one."""
        s = shape(self.raw, schema)
        base = self.base(s, name)
        out = [base]
        alternatives = self.alternatives(s)
        if alternatives:
            # Each alternative's own base. Not null, even where the schema is
            # nullable: OpenAPI 3.0 validators check `null` against every
            # alternative of a `oneOf`, and each refuses it.
            out.extend(self.base(a, name) for a in alternatives[1:])
        elif s.get("type") == "object" and s.get("properties"):
            required = self.required(s)
            for p, ps in s["properties"].items():
                if p not in required:
                    out.append({k: v for k, v in base.items() if k != p})
                for v in self.variants(ps, p)[1:]:
                    out.append({**base, p: v})
                pshape = shape(self.raw, ps)
                if pshape.get("nullable") and not self.is_leaf(ps) and "oneOf" not in pshape:
                    out.append({**base, p: None})
            out.append({k: v for k, v in base.items() if k in required})
        elif self.is_free_form(s):
            out.extend(FREE_FORM_OBJECTS)
            if s.get("nullable"):
                out.append(None)
        elif s.get("type") == "array":
            item = s["items"]
            item_variants = self.variants(item, name)
            out.append([])
            out.append(item_variants[:3])
            out.extend([v] for v in item_variants[1:])
        else:
            out.extend(self.leaf_values(s, name)[1:])
        return dedup(out)

    def required(self, s):
        """The required properties, with those of the first `anyOf: [{required}]`
        alternative (EnterpriseAccountConnection needs `domain` or `domains`)."""
        required = set(s.get("required", []))
        any_of = s.get("anyOf") or []
        if any_of and isinstance(any_of[0], dict):
            required |= set(any_of[0].get("required", []))
        return required

    def is_leaf(self, schema):
        s = shape(self.raw, schema)
        return s.get("type") not in ("object", "array") and "oneOf" not in s

    def random(self, schema, rng, name="", depth=0):
        s = shape(self.raw, schema)
        if s.get("nullable") and "oneOf" not in s and rng.random() < 0.2:
            return None
        alternatives = self.alternatives(s)
        if alternatives:
            chosen = rng.choice(alternatives)
            value = self.random(chosen, rng, name, depth + 1)
            # The discriminating property is always there, as in Clerk's replies.
            tag = s.get("discriminator", {}).get("propertyName")
            if tag and isinstance(value, dict) and tag in chosen.get("properties", {}):
                value.setdefault(tag, self.base(chosen)[tag])
            return value
        if s.get("type") == "object" and s.get("properties"):
            required = self.required(s)
            out = {}
            for p, ps in s["properties"].items():
                if p in required or rng.random() < 0.7:
                    out[p] = self.random(ps, rng, p, depth + 1)
            return out
        if self.is_free_form(s):
            return rng.choice(FREE_FORM_OBJECTS)
        if s.get("type") == "array":
            return [self.random(s["items"], rng, name, depth + 1) for _ in range(rng.choice([0, 1, 1, 2, 3]))]
        return rng.choice([v for v in self.leaf_values(s, name) if v is not None] or [None])


def dedup(values):
    seen, out = set(), []
    for v in values:
        key = json.dumps(v, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def reorder(value, rng):
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: reorder(v, rng) for k, v in items}
    if isinstance(value, list):
        return [reorder(v, rng) for v in value]
    return value


def serialize(value, style, rng):
    """The same JSON value spelled several ways, as a server might."""
    if style == 0:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if style == 1:
        return json.dumps(value, indent=2, ensure_ascii=True)
    if style == 2:
        return json.dumps(value, sort_keys=True)
    return json.dumps(reorder(value, rng), ensure_ascii=False) + "\n"


def documented_responses(raw, ops):
    """(operation, status, schema name, schema, media type) for every
    documented response of every operation."""
    out = []
    for short, (path, method, op) in ops.items():
        for status, response in op["responses"].items():
            r = resolve(raw, response)
            content = r.get("content") or {}
            if list(content) != ["application/json"]:
                raise SystemExit(f"{short} {status}: unexpected media types {list(content)}")
            schema = content["application/json"]["schema"]
            out.append((short, str(status), ref_name(schema), schema))
    return out


def expectation(status, schema_name):
    """A documented success parses as the operation's output; a documented
    error as Clerk's refusal."""
    if status.startswith("2") and schema_name != "ClerkErrors":
        return "ok"
    if status[0] in "45" and schema_name == "ClerkErrors":
        return "api"
    raise SystemExit(f"no expectation for a {status} with schema {schema_name}")


def generate(raw, ops, gen):
    rng = random.Random(SEED)
    cases = []
    for short, status, schema_name, schema in documented_responses(raw, ops):
        expect = expectation(status, schema_name)
        instances = [("variant", v) for v in gen.variants(schema)]
        for code, message, meta in DOCUMENTED_ERRORS.get((short, status), []):
            error = {"message": message, "long_message": f"{message} ({code})", "code": code}
            if meta:
                error["meta"] = meta
            instances.append(("documented", {"errors": [error], "clerk_trace_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}))
            instances.append(("documented", {"errors": [error]}))
        instances += [("random", gen.random(schema, rng)) for _ in range(RANDOM_PER_RESPONSE)]
        for i, (origin, instance) in enumerate(instances):
            content_type = "application/json; charset=utf-8" if i % 5 == 4 else "application/json"
            headers = [["Content-Type", content_type]]
            if expect == "api":
                body_trace = instance.get("clerk_trace_id") if isinstance(instance, dict) else None
                choice = i % 4
                if choice == 1 and body_trace and all(" " <= c <= "~" for c in body_trace):
                    headers.append(["Clerk-Trace-Id", body_trace])
                elif choice == 2:
                    headers.append(["Clerk-Trace-Id", f"trace_from_header_{i}"])
                elif choice == 3:
                    headers.append(["clerk-trace-id", f"  padded_trace_{i}  "])
            cases.append({
                "name": f"{short} {status} {origin} #{i}",
                "operation": short,
                "status": int(status),
                "headers": headers,
                "body": serialize(instance, i % 4, rng),
                "instance": instance,
                "expect": expect,
                "origin": origin,
                "source": "generated",
            })
    return cases


# A valid request of each operation, for validating responses: (path
# parameters, query, JSON body or None).
SAMPLE_REQUESTS = {
    "create": ({}, "", '{"user_id":"user_26Ect5GuCCeaFWwSDiiKcgAGtVk"}'),
    "revoke": ({"sign_in_token_id": "sit_26Ed5ZqqJcOjRwecRQij2ZovDdG"}, "", None),
    "list_users": ({}, "email_address=ann%40example.com&limit=1", None),
}


def sample_request(raw, ops, short):
    path, method, _ = ops[short]
    server = server_url(raw)
    params, query, body = SAMPLE_REQUESTS[short]
    for name, value in params.items():
        path = path.replace(f"{{{name}}}", value)
    target = f"{server}{path}" + (f"?{query}" if query else "")
    headers = [("Authorization", "Bearer sk_test_x")]
    if body is not None:
        headers.append(("Content-Type", "application/json"))
    request, _ = mock_request(raw, method, target, headers, body or "", server)
    return request


# --------------------------------------------------------------------------
# Checks


class Report:
    def __init__(self):
        self.rows = {}  # group -> [checked, passed]
        self.failures = []
        self.negatives = []

    def count(self, group, ok, failure=None):
        row = self.rows.setdefault(group, [0, 0])
        row[0] += 1
        if ok:
            row[1] += 1
        elif failure:
            self.failures.append(f"[{group}] {failure}")

    def negative(self, name, by, errors):
        """A check that must fail: `errors` is what the checker reported."""
        rejected = bool(errors)
        self.negatives.append({"name": name, "by": by, "rejected": rejected, "error": errors[0] if errors else ""})
        self.count(f"negative: {by} rejects a wrong {name.split(':')[0]}", rejected,
                   None if rejected else f"NOT rejected: {name}")


PCHAR = re.compile(r"^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*$")


def segment_problems(raw, ops, request_line):
    """The revoke id as one RFC 3986 segment that decodes to the id."""
    uri = request_line["request"]["uri"]
    want = request_line["input"]["sign_in_token_id"]
    parts = urlsplit(uri)
    if parts.query or parts.fragment or "#" in uri or "?" in uri:
        return [f"the URI has a query or fragment: {uri!r}"]
    base = urlsplit(request_line["base_url"]).path.rstrip("/")
    prefix, suffix = f"{base}/sign_in_tokens/", "/revoke"
    if not (parts.path.startswith(prefix) and parts.path.endswith(suffix)):
        return [f"not the revoke route: {parts.path!r}"]
    segment = parts.path[len(prefix):-len(suffix)]
    if not PCHAR.match(segment):
        return [f"not one RFC 3986 segment: {segment!r}"]
    try:
        decoded = unquote(segment, errors="strict")
    except UnicodeDecodeError as e:
        return [f"does not decode as UTF-8: {segment!r} ({e})"]
    if decoded != want:
        return [f"decodes to {decoded!r}, not {want!r}"]
    if decoded in ("", ".", ".."):
        return [f"a dot or empty segment: {segment!r}"]
    return []


def create_body_problems(line):
    """The create body says exactly what the caller asked."""
    body = json.loads(line["request"]["body"])
    want = {"user_id": line["input"]["user_id"]}
    if line["input"]["expires_in"] is not None:
        want["expires_in_seconds"] = line["input"]["expires_in"]["secs"]
    if line["input"]["org_id"] is not None:
        want["org_id"] = line["input"]["org_id"]
    return [] if body == want else [f"body {body!r}, want {want!r}"]


def lookup_problems(line):
    """The lookup's query says exactly what the caller asked: each address
    (or external id) once, in order, decoding (form-urlencoded, so a `+`
    must have been sent as %2B) to exactly the input; an explicit `limit`
    that can hold every match (1..500, at least one per value); and, as a
    GET, no body and no Content-Length."""
    req, want = line["request"], line["input"]
    parts = urlsplit(req["uri"])
    problems = []
    try:
        pairs = query_args(parts.query)
    except ValueError as e:
        return [str(e)]
    param, values = lookup_values(want)
    if param == "external_id":
        # Clerk reads a leading sign as include/exclude: an id that starts
        # with one is asked for as `+<id>`.
        values = ["+" + v if v[:1] in ("+", "-") else v for v in values]
    sent = [v for k, v in pairs if k == param]
    if sent != values:
        problems.append(f"{param} values {sent!r}, want {values!r}")
    limits = [v for k, v in pairs if k == "limit"]
    if "limit" in want:
        if limits != [str(want["limit"])]:
            problems.append(f"limit {limits!r}, want {want['limit']}")
    elif len(limits) != 1 or not limits[0].isdigit() or not len(values) <= int(limits[0]) <= 500:
        problems.append(f"limit {limits!r} for {len(values)} values")
    offsets = [v for k, v in pairs if k == "offset"]
    want_offset = [str(want["offset"])] if want.get("offset") else []
    if offsets != want_offset and not (offsets == ["0"] and not want_offset):
        problems.append(f"offset {offsets!r}, want {want_offset!r}")
    others = sorted({k for k, _ in pairs} - {param, "limit", "offset"})
    if others:
        problems.append(f"unexpected parameters {others}")
    if req["method"] != "GET":
        problems.append(f"method {req['method']}")
    if req["body"]:
        problems.append("a GET with a body")
    if header(req["headers"], "content-length") is not None:
        problems.append("a GET with Content-Length")
    return problems


# Each operation's own rules beyond the description: a label for the report
# and the check (a list of problems).
PLAIN_CHECKS = {
    "create": ("SDK create body carries exactly the arguments (plain check)", create_body_problems),
    "revoke": ("SDK revoke id is one path segment decoding to the id (plain check)",
               lambda line: segment_problems(None, None, line)),
    "list_users": ("SDK lookup query carries exactly the arguments, limit and no body (plain check)",
                   lookup_problems),
}


def lookup_values(lookup_input):
    """(query parameter, values) of a lookup's input."""
    if "external_ids" in lookup_input:
        return "external_id", lookup_input["external_ids"]
    return "email_address", lookup_input["email_addresses"]


# clerk-core's documented budget for a lookup's query (MAX_LOOKUP_QUERY_BYTES,
# less the 32 bytes it keeps for limit and offset).
LOOKUP_VALUE_BUDGET = 6 * 1024 - 32


def lookup_cost(param, values):
    """The bytes `name=value&` takes for each value, percent-encoded (a
    leading sign of an external id costs a `%2B` more)."""
    unreserved = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    total = 0
    for v in values:
        encoded = sum(1 if b in unreserved else 3 for b in v.encode("utf-8"))
        sign = 3 if param == "external_id" and v[:1] in ("+", "-") else 0
        total += len(param) + 2 + encoded + sign
    return total


def expected_refusal(line):
    """The argument the SDK must refuse before sending, or None."""
    i = line["input"]
    if line["operation"] == "revoke":
        return "sign_in_token_id" if i["sign_in_token_id"] in ("", ".", "..") else None
    if line["operation"] == "list_users":
        # In clerk-core's order: no value, over 100, an empty one, a limit
        # outside 1-500, a query over the byte budget.
        param, values = lookup_values(i)
        if not values or len(values) > 100 or "" in values:
            return param
        if "limit" in i and not 1 <= i["limit"] <= 500:
            return "limit"
        return param if lookup_cost(param, values) > LOOKUP_VALUE_BUDGET else None
    if i["user_id"] == "":
        return "user_id"
    e = i["expires_in"]
    if e is not None and (e["secs"] == 0 or e["secs"] > INT64[1]):
        return "expires_in_seconds"
    if i["org_id"] == "":
        return "org_id"
    return None


def check_sdk_requests(raw, ops, strict, lines, report):
    for line in lines:
        short = line["operation"]
        label = f"{short} {json.dumps(line['input'], ensure_ascii=True)[:160]}"
        want_refusal = expected_refusal(line)
        if line["kind"] == "refused":
            report.count("SDK refuses before sending (documented SDK rule)", line["argument"] == want_refusal,
                         f"{label}: refused for {line['argument']!r} ({line['reason']}); expected {want_refusal!r}")
            continue
        if want_refusal:
            report.count("SDK refuses before sending (documented SDK rule)", False,
                         f"{label}: sent, but {want_refusal} should have been refused")
            continue
        req = line["request"]
        problems = []
        if req["lossy"]:
            problems.append("a header or the body is not UTF-8")
        try:
            request, _ = mock_request(raw, req["method"], req["uri"], req["headers"], req["body"], line["base_url"])
            problems += [describe(e) for e in strict.iter_request_errors(request)]
        except ValueError as e:
            problems.append(str(e))
        report.count(f"SDK request valid: {short} (openapi-core)", not problems, f"{label}: {problems}")
        plain_label, plain_check = PLAIN_CHECKS[short]
        plain = plain_check(line)
        report.count(plain_label, not plain, f"{label}: {plain}")


def check_generated(raw, ops, api, cases, report):
    requests = {short: sample_request(raw, ops, short) for short in ops}
    for case in cases:
        response = mock_response(case["status"], case["headers"], case["body"])
        errors = [describe(e) for e in api.iter_response_errors(requests[case["operation"]], response)]
        if json.loads(case["body"]) != case["instance"]:
            errors.append("the body does not encode the instance")
        report.count(f"generated response valid: {case['operation']} {case['status']} (openapi-core)",
                     not errors, f"{case['name']}: {errors}")


def check_mock(raw, ops, api, strict, clerk_errors_schema, exchanges, report):
    for x in exchanges:
        short, name = x["operation"], x["name"]
        received, response = x["received"], x["response"]
        status = response["status"]
        problems = []
        if status != x["expect"]["status"]:
            problems.append(f"status {status}, expected {x['expect']['status']}")
        body = None
        try:
            body = json.loads(response["body"])
        except ValueError:
            problems.append("the body is not JSON")
        if x["expect"]["code"] and not (
            isinstance(body, dict) and any(e.get("code") == x["expect"]["code"] for e in body.get("errors", []))
        ):
            problems.append(f"no error with code {x['expect']['code']}")
        report.count("clerk-mock answered as the scenario expects", not problems, f"{name}: {problems}")

        try:
            request, _ = mock_request(raw, received["method"], received["target"], received["headers"],
                                      received["body"], x["base_url"])
            req_errors = [describe(e) for e in strict.iter_request_errors(request)]
        except ValueError as e:
            # A query that is not application/x-www-form-urlencoded: wrong
            # before any validator; its response is judged beside a valid
            # request of the operation.
            request, req_errors = sample_request(raw, ops, short), [f"malformed query: {e}"]
        if x["request_valid"]:
            report.count("clerk-mock exchange: request as received is valid (openapi-core)", not req_errors,
                         f"{name}: {req_errors}")
        else:
            report.negative(f"request: {name}", "openapi-core", req_errors)

        documented = str(status) in {str(k) for k in ops[short][2]["responses"]}
        mock_resp = mock_response(status, response["headers"], response["body"])
        resp_errors = [describe(e) for e in strict.iter_response_errors(request, mock_resp)]
        if documented:
            report.count(f"clerk-mock response valid: {short} {status} (openapi-core)", not resp_errors,
                         f"{name}: {resp_errors}")
        else:
            # Undocumented status: the validator must say it is not described,
            # and the body must still be a ClerkErrors object.
            not_described = any(e.startswith("ResponseNotFound") for e in resp_errors)
            report.count(f"clerk-mock {status} (undocumented): validator reports the status as not described",
                         not_described, f"{name}: {resp_errors}")
            body_errors = []
            if (header(response["headers"], "content-type") or "").split(";")[0].strip() != "application/json":
                body_errors.append("content type is not application/json")
            try:
                clerk_errors_schema.validate(body)
            except Exception as e:  # noqa: BLE001 - any validator error is a failure here
                body_errors.append(describe(e))
            report.count(f"clerk-mock {status} (undocumented): body valid against ClerkErrors schema",
                         not body_errors, f"{name}: {body_errors}")


def negative_checks(raw, ops, api, strict, clerk_errors_schema, report):
    server = server_url(raw)
    bearer = ("Authorization", "Bearer sk_test_x")
    json_ct = ("Content-Type", "application/json")

    def request_errors(method, url, headers, body):
        try:
            request, _ = mock_request(raw, method, url, headers, body, server)
        except ValueError as e:
            return [str(e)]
        return [describe(e) for e in strict.iter_request_errors(request)]

    create_url = f"{server}/sign_in_tokens"
    bad_requests = [
        ("create body without user_id", "POST", create_url, [bearer, json_ct], '{"expires_in_seconds":60}'),
        ("create body with expires_in_seconds 0", "POST", create_url, [bearer, json_ct], '{"user_id":"u","expires_in_seconds":0}'),
        ("create body with expires_in_seconds as a string", "POST", create_url, [bearer, json_ct], '{"user_id":"u","expires_in_seconds":"60"}'),
        ("create body with a fractional lifetime", "POST", create_url, [bearer, json_ct], '{"user_id":"u","expires_in_seconds":1.5}'),
        ("create body with org_id a number", "POST", create_url, [bearer, json_ct], '{"user_id":"u","org_id":5}'),
        ("create body with user_id null", "POST", create_url, [bearer, json_ct], '{"user_id":null}'),
        ("create body with an undocumented field", "POST", create_url, [bearer, json_ct], '{"user_id":"u","userId":"u"}'),
        ("create body that is not JSON", "POST", create_url, [bearer, json_ct], '{"user_id":'),
        ("create body sent as text/plain", "POST", create_url, [bearer, ("Content-Type", "text/plain")], '{"user_id":"u"}'),
        ("create without Authorization", "POST", create_url, [json_ct], '{"user_id":"u"}'),
        ("create with Basic authorization", "POST", create_url, [("Authorization", "Basic dXNlcjpwYXNz"), json_ct], '{"user_id":"u"}'),
        ("create with GET", "GET", create_url, [bearer], ""),
        ("create under another server path", "POST", "https://api.clerk.com/v2/sign_in_tokens", [bearer, json_ct], '{"user_id":"u"}'),
        ("revoke with an id holding a raw /", "POST", f"{server}/sign_in_tokens/sit_1/x/revoke", [bearer], ""),
        ("revoke with an id holding a raw ?", "POST", f"{server}/sign_in_tokens/sit_1?x/revoke", [bearer], ""),
        ("revoke with an id holding a raw #", "POST", f"{server}/sign_in_tokens/sit_1#x/revoke", [bearer], ""),
        ("revoke without Authorization", "POST", f"{server}/sign_in_tokens/sit_1/revoke", [], ""),
    ]
    # Query parameters are validated: a wrong one in an otherwise valid
    # lookup must be rejected (before the query was passed to the validator,
    # none of these was).
    users_url = f"{server}/users?email_address=ann%40example.com"
    for query in ["limit=0", "limit=501", "limit=abc", "limit=1.5", "limit=", "offset=-1", "offset=x"]:
        bad_requests.append((f"lookup with {query}", "GET", f"{users_url}&{query}", [bearer], ""))
    bad_requests.append(("lookup without Authorization", "GET", f"{users_url}&limit=1", [], ""))
    for name, method, url, headers, body in bad_requests:
        report.negative(f"request: {name}", "openapi-core", request_errors(method, url, headers, body))

    # Controls: the sample requests the responses are validated against, and
    # the valid twins of the wrong lookups above, pass.
    controls = [(short, sample_request(raw, ops, short)) for short in ops]
    for query in ["limit=1", "limit=500", "offset=0", "limit=100&offset=7", "email_address=b%2B1%40example.com"]:
        request, _ = mock_request(raw, "GET", f"{users_url}&{query}", [bearer], "", server)
        controls.append((f"list_users {query}", request))
    for name, request in controls:
        errs = [describe(e) for e in strict.iter_request_errors(request)]
        report.count("control: a valid request passes (openapi-core)", not errs, f"{name}: {errs}")

    # The plain segment check has teeth too: ids spliced in raw, or encoded
    # for a different id, are refused even where the validator cannot tell.
    for raw_segment, meant in [("100%", "100%"), ("a%2Fb", "a/b/"), ("caf\u00e9", "café"), ("%FF", "\u00ff"), ("a b", "a b")]:
        line = {"request": {"uri": f"{server}/sign_in_tokens/{raw_segment}/revoke"},
                "input": {"sign_in_token_id": meant}, "base_url": server}
        report.negative(f"request: revoke segment {raw_segment!r} for id {meant!r}", "segment check",
                        segment_problems(raw, ops, line))

    # The lookup's plain check has teeth: a raw `+`, a missing or too small
    # limit, a value left out, a GET with a length.
    want = {"email_addresses": ["test+1@example.com", "b@example.com"]}
    good = "email_address=test%2B1%40example.com&email_address=b%40example.com"
    for name, query, headers in [
        ("a raw + in an address", "email_address=test+1%40example.com&email_address=b%40example.com&limit=2", []),
        ("no limit", good, []),
        ("a limit under the number of addresses", f"{good}&limit=1", []),
        ("a limit over 500", f"{good}&limit=501", []),
        ("an address left out", "email_address=b%40example.com&limit=2", []),
        ("a GET with Content-Length", f"{good}&limit=2", [["Content-Length", "0"]]),
    ]:
        line = {"request": {"method": "GET", "uri": f"{server}/users?{query}", "headers": headers, "body": ""},
                "input": want, "base_url": server}
        report.negative(f"request: lookup with {name}", "lookup check", lookup_problems(line))
    control = {"request": {"method": "GET", "uri": f"{server}/users?{good}&limit=2", "headers": [], "body": ""},
               "input": want, "base_url": server}
    report.count("control: a valid request passes (lookup check)", not lookup_problems(control),
                 f"{lookup_problems(control)}")

    requests = {short: sample_request(raw, ops, short) for short in ops}
    token = {
        "object": "sign_in_token", "id": "sit_1", "status": "pending", "user_id": "user_1",
        "token": "a.b.c", "url": "https://x/?ticket=a.b.c", "created_at": 1638000669544, "updated_at": 1638000669544,
    }
    errors_body = {"errors": [{"message": "m", "long_message": "l", "code": "resource_not_found"}]}
    user = Generator(raw).base(raw["components"]["schemas"]["User"])
    json_headers = [["Content-Type", "application/json"]]
    bad_responses = [
        ("create", 200, "SignInToken without id", {k: v for k, v in token.items() if k != "id"}, json_headers),
        ("revoke", 200, "SignInToken without created_at", {k: v for k, v in token.items() if k != "created_at"}, json_headers),
        ("create", 200, "SignInToken with object 'user'", {**token, "object": "user"}, json_headers),
        ("create", 200, "SignInToken with an unknown status", {**token, "status": "expired"}, json_headers),
        ("create", 200, "SignInToken with an undocumented field", {**token, "extra": 1}, json_headers),
        ("create", 200, "SignInToken with token null", {**token, "token": None}, json_headers),
        ("create", 200, "SignInToken with url a number", {**token, "url": 5}, json_headers),
        ("create", 200, "SignInToken with created_at a string", {**token, "created_at": "1638000669544"}, json_headers),
        ("create", 200, "SignInToken with created_at past int64", {**token, "created_at": 2**63}, json_headers),
        ("create", 200, "SignInToken with created_at fractional", {**token, "created_at": 1.5}, json_headers),
        ("create", 200, "SignInToken as text/html", token, [["Content-Type", "text/html"]]),
        ("create", 404, "ClerkErrors without errors", {"clerk_trace_id": "t"}, json_headers),
        ("revoke", 400, "ClerkErrors with an error without code", {"errors": [{"message": "m", "long_message": "l"}]}, json_headers),
        ("revoke", 404, "ClerkErrors with errors an object", {"errors": errors_body["errors"][0]}, json_headers),
        ("create", 422, "ClerkErrors with a numeric code", {"errors": [{"message": "m", "long_message": "l", "code": 422}]}, json_headers),
        ("create", 401, "undocumented status 401", errors_body, json_headers),
        ("revoke", 500, "undocumented status 500", errors_body, json_headers),
        ("create", 400, "status 400 documented only for revoke", errors_body, json_headers),
        ("list_users", 200, "User list that is an object", {"data": [user]}, json_headers),
        ("list_users", 200, "User without id", [{k: v for k, v in user.items() if k != "id"}], json_headers),
        ("list_users", 200, "User with object 'sign_in_token'", [{**user, "object": "sign_in_token"}], json_headers),
        ("list_users", 200, "User with email_addresses a string", [{**user, "email_addresses": "a@b.c"}], json_headers),
        ("list_users", 200, "User with an email address without email_address",
         [{**user, "email_addresses": [{k: v for k, v in user["email_addresses"][0].items() if k != "email_address"}]}],
         json_headers),
        ("list_users", 200, "User with created_at a string", [{**user, "created_at": "1638000669544"}], json_headers),
        ("list_users", 404, "undocumented status 404", errors_body, json_headers),
    ]
    for short, status, name, body, headers in bad_responses:
        response = mock_response(status, headers, json.dumps(body))
        errs = [describe(e) for e in api.iter_response_errors(requests[short], response)]
        report.negative(f"response: {short} {status} {name}", "openapi-core", errs)

    # The strict validator (clerk-mock's exchanges) forbids undocumented
    # properties also where the description leaves an object open, and also
    # inside a `oneOf` whose wrapper it opens.
    email = user["email_addresses"][0]
    strict_bad = [
        ("list_users", 200, "email verification with an undocumented field",
         [{**user, "email_addresses": [{**email, "verification": {**email["verification"], "extra": 1}}]}]),
        ("list_users", 422, "ClerkError with an undocumented field",
         {"errors": [{"message": "m", "long_message": "l", "code": "c", "extra": 1}]}),
    ]
    for short, status, name, body in strict_bad:
        response = mock_response(status, json_headers, json.dumps(body))
        errs = [describe(e) for e in strict.iter_response_errors(requests[short], response)]
        report.negative(f"response: {short} {status} {name}", "openapi-core (strict)", errs)

    for name, body in [("401 body {'error': ...}", {"error": "unauthorized"}),
                       ("401 body with an error without long_message", {"errors": [{"message": "m", "code": "c"}]})]:
        try:
            clerk_errors_schema.validate(body)
            errs = []
        except Exception as e:  # noqa: BLE001
            errs = [describe(e)]
        report.negative(f"response: {name}", "ClerkErrors schema", errs)


def tolerance_cases(raw):
    """Responses the description forbids but clerk-core is designed to take
    (DESIGN.md: unknown fields ignored, unknown enum values kept) or to
    refuse as a decode error (a required field missing). Each is also shown
    to fail the validator in the negative checks above or here."""
    token = {
        "object": "sign_in_token", "id": "sit_1", "status": "pending", "user_id": "user_1",
        "token": "a.b.c", "url": None, "created_at": 1638000669544, "updated_at": 1638000669545,
    }
    token_cases = [
        ("tolerated: an undocumented field", {**token, "added_later": {"x": [1]}}, "ok"),
        ("tolerated: an unknown status", {**token, "status": "expired"}, "ok"),
    ]
    for field in ["object", "id", "status", "user_id", "created_at", "updated_at"]:
        token_cases.append((f"refused: {field} missing", {k: v for k, v in token.items() if k != field}, "decode"))
    token_cases.append(("refused: created_at a string", {**token, "created_at": "1638000669544"}, "decode"))
    user = Generator(raw).base(raw["components"]["schemas"]["User"])
    user_cases = [
        ("tolerated: an undocumented field", [{**user, "added_later": {"x": [1]}}], "ok"),
        ("tolerated: an undocumented field in an email address",
         [{**user, "email_addresses": [{**user["email_addresses"][0], "added_later": True}]}], "ok"),
        ("tolerated: an email verification null (as Clerk sends; the 3.0 description cannot say it)",
         [{**user, "email_addresses": [{**user["email_addresses"][0], "verification": None}]}], "ok"),
        ("refused: id missing", [{k: v for k, v in user.items() if k != "id"}], "decode"),
        ("refused: an object, not a list", {"data": [user]}, "decode"),
    ]
    cases = [(short, *case) for case in token_cases for short in ("create", "revoke")]
    cases += [("list_users", *case) for case in user_cases]
    out = []
    for short, name, instance, expect in cases:
        if short in OPS:
            out.append({
                "name": f"{short} 200 {name}",
                "operation": short,
                "status": 200,
                "headers": [["Content-Type", "application/json"]],
                "body": json.dumps(instance),
                "instance": instance,
                "expect": expect,
                "origin": "outside-description",
                "source": "outside the description",
            })
    return out


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def cmd_check(args):
    from openapi_core.validation.schemas import oas30_read_schema_validators_factory

    out = Path(args.dir)
    api, strict, raw = load(args.spec)
    ops = find_operations(raw)
    gen = Generator(raw)
    report = Report()
    clerk_errors_schema = oas30_read_schema_validators_factory.create(
        api.spec, api.spec / "components" / "schemas" / "ClerkErrors",
        forbid_unspecified_additional_properties=True,
    )

    check_sdk_requests(raw, ops, strict, read_lines(out / "sdk_requests.jsonl"), report)

    cases = generate(raw, ops, gen)
    check_generated(raw, ops, api, cases, report)
    outside = tolerance_cases(raw)
    requests = {short: sample_request(raw, ops, short) for short in ops}
    for case in outside:
        response = mock_response(case["status"], case["headers"], case["body"])
        errs = [describe(e) for e in api.iter_response_errors(requests[case["operation"]], response)]
        report.negative(f"response: {case['name']}", "openapi-core", errs)
    with open(out / "responses.jsonl", "w", encoding="utf-8") as f:
        for case in cases + outside:
            f.write(json.dumps(case, ensure_ascii=False) + "\n")

    check_mock(raw, ops, api, strict, clerk_errors_schema, read_lines(out / "mock_exchanges.jsonl"), report)
    negative_checks(raw, ops, api, strict, clerk_errors_schema, report)

    generated_counts = {}
    for case in cases + outside:
        key = f"{case['operation']} {case['status']} -> {case['expect']}"
        generated_counts[key] = generated_counts.get(key, 0) + 1
    result = {
        "spec": str(args.spec),
        "rows": [{"group": g, "checked": c, "passed": p} for g, (c, p) in report.rows.items()],
        "negatives": report.negatives,
        "failures": report.failures,
        "generated": generated_counts,
    }
    (out / "python_report.json").write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"validate: {sum(c for c, _ in report.rows.values())} checks against {args.spec}")
    if report.failures:
        print(f"\nFAILED: {len(report.failures)} checks", file=sys.stderr)
        for failure in report.failures[:200]:
            print(f"  {failure}", file=sys.stderr)
        return 1
    return 0


def cmd_summary(args):
    out = Path(args.dir)
    failed = False
    try:
        py = json.loads((out / "python_report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"no validator report: {e}", file=sys.stderr)
        return 1
    try:
        rust = json.loads((out / "rust_report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"no clerk-core report (did the Rust test run?): {e}", file=sys.stderr)
        rust = None
        failed = True

    rows = [(r["group"], r["checked"], r["passed"]) for r in py["rows"]]
    if rust is not None:
        grouped = {}
        for p in rust["parsed"]:
            key = f"clerk-core parses {p['source']}: {p['operation']} {p['status']} -> {p['outcome']}"
            grouped[key] = grouped.get(key, 0) + p["count"]
        rows += [(k, n, n) for k, n in sorted(grouped.items())]
        if rust["failures"]:
            rows.append(("clerk-core parse mismatches", len(rust["failures"]), 0))
    negatives = [r for r in rows if r[0].startswith("negative")]
    rows = [r for r in rows if not r[0].startswith("negative")] + negatives

    width = max(len(r[0]) for r in rows)
    print(f"\nConformance with {py['spec']}\n")
    print(f"{'check':<{width}}  {'checked':>7}  {'passed':>7}")
    print(f"{'-' * width}  {'-' * 7}  {'-' * 7}")
    for group, checked, passed in rows:
        mark = "" if checked == passed else "   <-- FAILED"
        print(f"{group:<{width}}  {checked:>7}  {passed:>7}{mark}")
        failed |= checked != passed
    print("\nWhat the validator said about the deliberately wrong inputs (each must be rejected):")
    for n in py["negatives"]:
        verdict = "rejected" if n["rejected"] else "NOT REJECTED"
        print(f"  {verdict:<12} [{n['by']}] {n['name']}\n               {n['error']}")
    total = sum(r[1] for r in rows)
    passed = sum(r[2] for r in rows)
    failed |= bool(py["failures"])
    print(f"\nconformance: {passed} passed, {total - passed} failed")
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check")
    check.add_argument("--spec", required=True, type=Path)
    check.add_argument("--dir", required=True, type=Path)
    summary = sub.add_parser("summary")
    summary.add_argument("--dir", required=True, type=Path)
    args = parser.parse_args()
    return cmd_check(args) if args.command == "check" else cmd_summary(args)


if __name__ == "__main__":
    sys.exit(main())
