"""Deterministic benchmark workloads: RBAC, ABAC, ReBAC, and N simple facts.

Every generator takes a seed and draws from its own ``random.Random(seed)``; nothing
iterates a ``set`` of strings (string hashing is randomised per process), so the same
arguments give byte-identical policies and requests in every run.

Each workload carries:

* ``rules``    -- the Siamese policy in the ``.rules`` syntax (SPEC §2);
* ``requests`` -- (subject, action, resource) triples, about half of them allowed;
* ``expected`` -- the decision of a plain-Python reference evaluator for every request;
* ``casbin``   -- for RBAC and ABAC, what pycasbin needs for the *same* logic: model text,
  policy lines, and per-request ``enforce()`` arguments aligned with ``requests``;
* ``cedar``    -- for all three, what cedarpy needs for the same logic: Cedar policies, and
  per request the Cedar request and its entity slice (the principal and the resource, each
  with all its ancestors listed as parents: Cedar rejects a ``parents`` graph with a cycle,
  and the ReBAC groups have cycles, so every slice carries the transitive closure).

Decision semantics, as in Siamese: allowed iff ``allow(S, A, R)`` has a proof and
``deny(S, A, R)`` has none.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACTIONS = ("read", "write", "delete", "share")

Request = tuple[str, str, str]


@dataclass
class CasbinSpec:
    """What ``casbin.Enforcer`` needs: the model, the policy lines, one arg tuple per request."""

    model: str
    policy: list[str]
    requests: list[tuple[Any, ...]]

    @property
    def policy_text(self) -> str:
        return "\n".join(self.policy) + "\n"


@dataclass
class CedarSpec:
    """What cedarpy needs: the policies (Cedar text) and, aligned with the workload's
    requests, one Cedar request and one entity slice (a list of Cedar JSON entities)."""

    policies: str
    requests: list[dict[str, str]]
    entities: list[list[dict[str, Any]]]
    encoding: str = ""  # how the workload's data reaches Cedar, in a few words


def cedar_uid(kind: str, ident: str) -> str:
    """An entity uid in Cedar syntax (the benchmark's ids need no escaping)."""
    return f'{kind}::"{ident}"'


def cedar_ref(kind: str, ident: str) -> dict[str, Any]:
    """An entity reference as an attribute value of Cedar's JSON entity format."""
    return {"__entity": {"type": kind, "id": ident}}


def cedar_entity(
    kind: str, ident: str, attrs: dict[str, Any], parents: Iterable[tuple[str, str]] = ()
) -> dict[str, Any]:
    """One entity of Cedar's JSON entity format."""
    return {
        "uid": {"type": kind, "id": ident},
        "attrs": attrs,
        "parents": [{"type": k, "id": i} for k, i in parents],
    }


def cedar_request(principal: str, action: str, resource: tuple[str, str]) -> dict[str, str]:
    """A cedarpy request: a user, an action, a resource (kind, id); no context."""
    return {
        "principal": cedar_uid("User", principal),
        "action": cedar_uid("Action", action),
        "resource": cedar_uid(*resource),
    }


@dataclass
class Workload:
    name: str
    rules: str
    requests: list[Request]
    expected: list[bool]
    warmup: list[Request] = field(default_factory=list)
    casbin: CasbinSpec | None = None
    casbin_warmup: list[tuple[Any, ...]] = field(default_factory=list)
    cedar: CedarSpec | None = None
    cedar_alt: CedarSpec | None = None  # another encoding, measured beside the first
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def allowed_share(self) -> float:
        return sum(self.expected) / len(self.expected) if self.expected else 0.0


def q(s: str) -> str:
    """A string as a quoted atom of the ``.rules`` syntax."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fact(name: str, *args: str | int) -> str:
    parts = [q(a) if isinstance(a, str) else str(a) for a in args]
    return f"{name}({', '.join(parts)})."


def _mix(
    rng: random.Random,
    n: int,
    likely_allowed: Callable[[], Request],
    random_request: Callable[[], Request],
) -> list[Request]:
    """Mix constructed (mostly allowed) and uniformly random (mostly denied) requests 50/50."""
    out = []
    for _ in range(n):
        out.append(likely_allowed() if rng.random() < 0.5 else random_request())
    return out


# --------------------------------------------------------------------------------------------
# RBAC: users -> roles (3-level hierarchy) -> permissions on resource types
# --------------------------------------------------------------------------------------------

RBAC_RULES = """\
# RBAC benchmark: users have roles; a role includes itself and, transitively, the roles it
# inherits; roles hold permissions (action) on resource types. Suspended users are denied.
allow(?u, ?a, ?r) :-
    resource_type(?r, ?t),
    has_role(?u, ?role),
    role_includes(?role, ?sub),
    permission(?sub, ?a, ?t).

deny(?u, _, _) :- suspended(?u).

role_includes(?r, ?r) :- role(?r).
role_includes(?r, ?s) :- inherits(?r, ?m), role_includes(?m, ?s).
"""

# The decision logic of RBAC_RULES, as pycasbin expresses it. Deny lines come first and the
# priority effect takes the first matching line, so "deny overrides allow" holds and casbin
# may stop at the first allow (its fastest encoding of these semantics). A deny line
# matches on the subject alone, like ``deny(?u, _, _) :- suspended(?u)``.
RBAC_CASBIN_MODEL = """\
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act, eft

[role_definition]
g = _, _
g2 = _, _

[policy_effect]
e = priority(p.eft) || deny

[matchers]
m = g(r.sub, p.sub) && (p.eft == "deny" || (r.act == p.act && g2(r.obj, p.obj)))
"""


# The decision logic of RBAC_RULES in Cedar: a user's parents are its roles and every role
# they include (the closure, computed beforehand), a resource's parent is its type; one
# permit per permission (rbac_cedar_policies adds them); suspended users are forbidden.
RBAC_CEDAR = """\
forbid (principal, action, resource) when { principal.suspended };
"""


def rbac_cedar_policies(permissions: Iterable[tuple[str, str, str]]) -> str:
    """RBAC_CEDAR and one permit per (role, action, resource type)."""
    lines = [RBAC_CEDAR]
    for role, a, t in permissions:
        lines.append(
            f"permit (principal in {cedar_uid('Role', role)}, action == "
            f"{cedar_uid('Action', a)}, resource in {cedar_uid('ResourceType', t)});"
        )
    return "\n".join(lines) + "\n"


def rbac(
    seed: int = 1,
    *,
    n_users: int = 2000,
    n_resources: int = 20000,
    n_types: int = 20,
    n_requests: int = 5000,
    n_warmup: int = 500,
    suspended_share: float = 0.01,
) -> Workload:
    rng = random.Random(seed)
    tops = [f"top_{i}" for i in range(4)]
    mids = [f"mid_{i}" for i in range(12)]
    leaves = [f"leaf_{i}" for i in range(24)]
    roles = tops + mids + leaves
    inherits: list[tuple[str, str]] = []
    for i, top in enumerate(tops):
        inherits += [(top, m) for m in mids[3 * i : 3 * i + 3]]
    for i, mid in enumerate(mids):
        inherits += [(mid, leaf) for leaf in leaves[2 * i : 2 * i + 2]]
        if rng.random() < 0.5:  # some mid roles include a third, shared leaf role
            extra = rng.choice(leaves)
            if (mid, extra) not in inherits:
                inherits.append((mid, extra))

    types = [f"type_{i}" for i in range(n_types)]
    permissions: list[tuple[str, str, str]] = []

    def grant(role: str, n_types_: int, actions: tuple[str, ...], max_actions: int) -> None:
        for t in rng.sample(types, n_types_):
            for a in rng.sample(actions, rng.randint(1, max_actions)):
                if (role, a, t) not in permissions:
                    permissions.append((role, a, t))

    for leaf in leaves:
        grant(leaf, 2, ("read", "write"), 2)
    for mid in mids:
        grant(mid, rng.randint(1, 2), ("read", "write", "delete"), 2)
    for top in tops:
        grant(top, rng.randint(1, 2), ACTIONS, 3)

    users = [f"user_{i}" for i in range(n_users)]
    role_weights = [1] * len(tops) + [3] * len(mids) + [6] * len(leaves)
    has_role: list[tuple[str, str]] = []
    for u in users:
        picked: list[str] = []
        for _ in range(rng.randint(1, 2)):
            r = rng.choices(roles, role_weights)[0]
            if r not in picked:
                picked.append(r)
        has_role += [(u, r) for r in picked]
    suspended = [u for u in users if rng.random() < suspended_share]

    resources = [f"res_{i}" for i in range(n_resources)]
    resource_type = {r: rng.choice(types) for r in resources}
    by_type: dict[str, list[str]] = {t: [] for t in types}
    for r in resources:
        by_type[resource_type[r]].append(r)

    # reference evaluator
    children: dict[str, list[str]] = {r: [] for r in roles}
    for a, b in inherits:
        children[a].append(b)
    closure = {r: _reach(r, children) for r in roles}
    user_roles: dict[str, list[str]] = {u: [] for u in users}
    for u, r in has_role:
        user_roles[u].append(r)
    perm_set = set(permissions)
    suspended_set = set(suspended)

    def decide(req: Request) -> bool:
        u, a, res = req
        if u in suspended_set:
            return False
        t = resource_type[res]
        return any((sub, a, t) in perm_set for role in user_roles[u] for sub in closure[role])

    user_perms = {
        u: [
            (a, t)
            for role in user_roles[u]
            for sub in closure[role]
            for (pr, a, t) in permissions
            if pr == sub
        ]
        for u in users
    }

    def make_requests(r: random.Random, n: int) -> list[Request]:
        def likely() -> Request:
            u = r.choice(users)
            while not user_perms[u]:
                u = r.choice(users)
            a, t = r.choice(user_perms[u])
            return (u, a, r.choice(by_type[t]))

        def anything() -> Request:
            return (r.choice(users), r.choice(ACTIONS), r.choice(resources))

        return _mix(r, n, likely, anything)

    requests = make_requests(random.Random(seed * 1000 + 1), n_requests)
    warmup = make_requests(random.Random(seed * 1000 + 2), n_warmup)

    lines = [RBAC_RULES, "# roles and their hierarchy"]
    lines += [fact("role", r) for r in roles]
    lines += [fact("inherits", a, b) for a, b in inherits]
    lines.append("# permissions: (role, action, resource type)")
    lines += [fact("permission", r, a, t) for r, a, t in permissions]
    lines.append("# users")
    lines += [fact("has_role", u, r) for u, r in has_role]
    lines += [fact("suspended", u) for u in suspended]
    lines.append("# resources")
    lines += [fact("resource_type", r, resource_type[r]) for r in resources]

    def cedar_slice(req: Request) -> list[dict[str, Any]]:
        u, _, res = req
        roles_of = dict.fromkeys(sub for role in user_roles[u] for sub in closure[role])
        return [
            cedar_entity(
                "User", u, {"suspended": u in suspended_set}, (("Role", r) for r in roles_of)
            ),
            cedar_entity("Resource", res, {}, [("ResourceType", resource_type[res])]),
        ]

    policy = ["p, suspended, *, *, deny"]
    policy += [f"p, {r}, {t}, {a}, allow" for r, a, t in permissions]
    policy += [f"g, {u}, {r}" for u, r in has_role]
    policy += [f"g, {u}, suspended" for u in suspended]
    policy += [f"g, {a}, {b}" for a, b in inherits]
    policy += [f"g2, {r}, {resource_type[r]}" for r in resources]

    return Workload(
        name="rbac",
        rules="\n".join(lines) + "\n",
        requests=requests,
        expected=[decide(x) for x in requests],
        warmup=warmup,
        casbin=CasbinSpec(
            model=RBAC_CASBIN_MODEL,
            policy=policy,
            requests=[(u, res, a) for u, a, res in requests],
        ),
        casbin_warmup=[(u, res, a) for u, a, res in warmup],
        cedar=CedarSpec(
            policies=rbac_cedar_policies(permissions),
            requests=[cedar_request(u, a, ("Resource", res)) for u, a, res in requests],
            entities=[cedar_slice(x) for x in requests],
            encoding="one permit per permission, user in its roles, resource in its type",
        ),
        sizes={
            "users": n_users,
            "roles": len(roles),
            "inherits": len(inherits),
            "permissions": len(permissions),
            "has_role": len(has_role),
            "suspended": len(suspended),
            "resources": n_resources,
            "types": n_types,
            "requests": n_requests,
        },
    )


# --------------------------------------------------------------------------------------------
# ABAC: attributes of subjects and resources
# --------------------------------------------------------------------------------------------

ABAC_RULES = """\
# ABAC benchmark: owners may do anything; others may read and write resources of their own
# department whose sensitivity does not exceed their clearance. Suspended users are denied.
allow(?u, ?a, ?r) :- owner(?r, ?u).
allow(?u, ?a, ?r) :-
    ?a in [read, write],
    resource_dept(?r, ?d),
    user_dept(?u, ?d),
    sensitivity(?r, ?s),
    clearance(?u, ?c),
    ?c >= ?s.

deny(?u, _, _) :- status(?u, suspended).
"""

# pycasbin ABAC: the request carries the attribute objects; no policy lines, one matcher.
ABAC_CASBIN_MODEL = """\
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = !r.sub.suspended && (r.obj.owner == r.sub.name || (r.act in ('read', 'write') \
&& r.obj.dept == r.sub.dept && r.sub.clearance >= r.obj.sensitivity))
"""


# ABAC_RULES in Cedar: the attributes travel with the user and the document entities.
ABAC_CEDAR = """\
permit (principal, action, resource) when { resource.owner == principal };
permit (principal, action in [Action::"read", Action::"write"], resource)
when { resource.dept == principal.dept && principal.clearance >= resource.sensitivity };
forbid (principal, action, resource) when { principal.suspended };
"""


class AbacSubject:
    """A request subject as a pycasbin ABAC matcher sees it (``r.sub.dept``...)."""

    __slots__ = ("clearance", "dept", "name", "suspended")

    def __init__(self, name: str, dept: str, clearance: int, suspended: bool) -> None:
        self.name = name
        self.dept = dept
        self.clearance = clearance
        self.suspended = suspended

    def __str__(self) -> str:
        return self.name

    __repr__ = __str__


class AbacResource:
    __slots__ = ("dept", "name", "owner", "sensitivity")

    def __init__(self, name: str, owner: str, dept: str, sensitivity: int) -> None:
        self.name = name
        self.owner = owner
        self.dept = dept
        self.sensitivity = sensitivity

    def __str__(self) -> str:
        return self.name

    __repr__ = __str__


def abac(
    seed: int = 2,
    *,
    n_users: int = 2000,
    n_resources: int = 20000,
    n_depts: int = 10,
    n_requests: int = 5000,
    n_warmup: int = 500,
    suspended_share: float = 0.03,
) -> Workload:
    rng = random.Random(seed)
    depts = [f"dept_{i}" for i in range(n_depts)]
    subjects = [
        AbacSubject(
            f"user_{i}", rng.choice(depts), rng.randint(1, 5), rng.random() < suspended_share
        )
        for i in range(n_users)
    ]
    resources = [
        AbacResource(f"doc_{i}", rng.choice(subjects).name, rng.choice(depts), rng.randint(1, 5))
        for i in range(n_resources)
    ]
    sub_by_name = {s.name: s for s in subjects}
    res_by_name = {r.name: r for r in resources}
    res_by_dept: dict[str, list[AbacResource]] = {d: [] for d in depts}
    for r in resources:
        res_by_dept[r.dept].append(r)

    def decide(req: Request) -> bool:
        s, a, r = sub_by_name[req[0]], req[1], res_by_name[req[2]]
        if s.suspended:
            return False
        if r.owner == s.name:
            return True
        return a in ("read", "write") and r.dept == s.dept and s.clearance >= r.sensitivity

    def make_requests(r: random.Random, n: int) -> list[Request]:
        def likely() -> Request:
            s = r.choice(subjects)
            if r.random() < 0.2:
                own = r.choice(resources)
                return (own.owner, r.choice(ACTIONS), own.name)
            cands = [x for x in r.sample(res_by_dept[s.dept], 20) if x.sensitivity <= s.clearance]
            res = cands[0] if cands else r.choice(res_by_dept[s.dept])
            return (s.name, r.choice(("read", "write")), res.name)

        def anything() -> Request:
            return (r.choice(subjects).name, r.choice(ACTIONS), r.choice(resources).name)

        return _mix(r, n, likely, anything)

    requests = make_requests(random.Random(seed * 1000 + 1), n_requests)
    warmup = make_requests(random.Random(seed * 1000 + 2), n_warmup)

    lines = [ABAC_RULES, "# subjects"]
    for s in subjects:
        lines.append(fact("user_dept", s.name, s.dept))
        lines.append(fact("clearance", s.name, s.clearance))
        lines.append(fact("status", s.name, "suspended" if s.suspended else "active"))
    lines.append("# resources")
    for res in resources:
        lines.append(fact("owner", res.name, res.owner))
        lines.append(fact("resource_dept", res.name, res.dept))
        lines.append(fact("sensitivity", res.name, res.sensitivity))

    def casbin_args(reqs: list[Request]) -> list[tuple[Any, ...]]:
        return [(sub_by_name[s], res_by_name[r], a) for s, a, r in reqs]

    def cedar_slice(req: Request) -> list[dict[str, Any]]:
        u, r = sub_by_name[req[0]], res_by_name[req[2]]
        user_attrs = {"dept": u.dept, "clearance": u.clearance, "suspended": u.suspended}
        doc_attrs = {
            "owner": cedar_ref("User", r.owner),
            "dept": r.dept,
            "sensitivity": r.sensitivity,
        }
        return [cedar_entity("User", u.name, user_attrs), cedar_entity("Doc", r.name, doc_attrs)]

    return Workload(
        name="abac",
        rules="\n".join(lines) + "\n",
        requests=requests,
        expected=[decide(x) for x in requests],
        warmup=warmup,
        casbin=CasbinSpec(model=ABAC_CASBIN_MODEL, policy=[], requests=casbin_args(requests)),
        casbin_warmup=casbin_args(warmup),
        cedar=CedarSpec(
            policies=ABAC_CEDAR,
            requests=[cedar_request(u, a, ("Doc", r)) for u, a, r in requests],
            entities=[cedar_slice(x) for x in requests],
            encoding="attributes on the user and the document",
        ),
        sizes={
            "users": n_users,
            "resources": n_resources,
            "depts": n_depts,
            "suspended": sum(s.suspended for s in subjects),
            "requests": n_requests,
        },
    )


# --------------------------------------------------------------------------------------------
# ReBAC: nested groups (with cycles), a folder tree, grants inherited down the tree
# --------------------------------------------------------------------------------------------

REBAC_RULES = """\
# ReBAC benchmark (Zanzibar-style): a user is a member of a group directly or through nested
# groups (cycles allowed); a grant on a folder covers every document below it.
allow(?u, ?a, ?doc) :- owner(?doc, ?u).
allow(?u, ?a, ?doc) :-
    inside(?doc, ?f),
    grant_on(?f, ?u, ?role),
    role_allows(?role, ?a).
allow(?u, ?a, ?doc) :-
    inside(?doc, ?f),
    grant_on(?f, ?g, ?role),
    role_allows(?role, ?a),
    member_of(?u, ?g).

deny(?u, _, _) :- suspended(?u).

member_of(?x, ?g) :- in_group(?x, ?g).
member_of(?x, ?g) :- in_group(?x, ?h), member_of(?h, ?g).

inside(?d, ?f) :- parent(?d, ?f).
inside(?d, ?f) :- parent(?d, ?p), inside(?p, ?f).

role_allows(viewer, read).
role_allows(editor, read).
role_allows(editor, write).
"""

ROLE_ACTIONS = {"viewer": ("read",), "editor": ("read", "write")}

# REBAC_RULES in Cedar, two ways. In both a user's parents are all its groups (the closure,
# computed beforehand: Cedar rejects a cycle in ``parents``).
# * REBAC_CEDAR_ACL (the cheaper for Cedar, so the one the targets use): a document carries
#   the users and groups granted each role on any folder above it (gathered beforehand, as
#   an application would hand Cedar the resource's inherited sharing), and four policies
#   check the principal against them.
# * REBAC_CEDAR (the literal translation): a document's parents are all its folders and each
#   grant is one permit (what a linked template evaluates to; rebac_cedar_policies adds
#   them), so Cedar evaluates every grant's policy on every request.
REBAC_CEDAR_ACL = """\
permit (principal, action, resource) when { resource.owner == principal };
permit (principal, action == Action::"read", resource) when { principal in resource.viewers };
permit (principal, action in [Action::"read", Action::"write"], resource)
when { principal in resource.editors };
forbid (principal, action, resource) when { principal.suspended };
"""

REBAC_CEDAR = """\
permit (principal, action, resource) when { resource.owner == principal };
forbid (principal, action, resource) when { principal.suspended };
"""

CEDAR_ROLE_ACTIONS = {
    "viewer": 'action == Action::"read"',
    "editor": 'action in [Action::"read", Action::"write"]',
}


def _rebac_kind(subject: str) -> str:
    """The Cedar entity type of a ReBAC grant's subject (a user or a group)."""
    return "User" if subject.startswith("user_") else "Group"


def rebac_cedar_policies(grants: Iterable[tuple[str, str, str]]) -> str:
    """REBAC_CEDAR and one permit per (folder, user or group, role) grant."""
    lines = [REBAC_CEDAR]
    for f, subj, role in grants:
        who = cedar_uid(_rebac_kind(subj), subj)
        lines.append(
            f"permit (principal in {who}, {CEDAR_ROLE_ACTIONS[role]}, "
            f"resource in {cedar_uid('Folder', f)});"
        )
    return "\n".join(lines) + "\n"


def _tree(
    rng: random.Random, n: int, n_roots: int, max_levels: int, deep_bias: float
) -> tuple[list[int | None], list[int]]:
    """Parent index (None for roots) and depth (0 = root) of ``n`` nodes in a forest.

    With probability ``deep_bias`` a node hangs under one of the last few nodes created, which
    grows long chains, so the forest reaches ``max_levels`` levels.
    """
    parent: list[int | None] = []
    depth: list[int] = []
    for i in range(n):
        if i < n_roots:
            parent.append(None)
            depth.append(0)
            continue
        while True:
            p = rng.randrange(max(0, i - 4), i) if rng.random() < deep_bias else rng.randrange(i)
            if depth[p] < max_levels - 1:
                break
        parent.append(p)
        depth.append(depth[p] + 1)
    return parent, depth


def _reach(start: str, edges: dict[str, list[str]]) -> list[str]:
    """``start`` and every node reachable from it (breadth first, cycle-safe, ordered)."""
    seen = {start}
    order = [start]
    todo = deque([start])
    while todo:
        for nxt in edges.get(todo.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                order.append(nxt)
                todo.append(nxt)
    return order


def rebac(
    seed: int = 3,
    *,
    n_users: int = 2000,
    n_groups: int = 300,
    n_folders: int = 2000,
    n_docs: int = 20000,
    group_levels: int = 8,
    folder_levels: int = 12,
    n_cycles: int = 8,
    n_requests: int = 5000,
    n_warmup: int = 500,
    suspended_share: float = 0.01,
) -> Workload:
    rng = random.Random(seed)
    users = [f"user_{i}" for i in range(n_users)]
    groups = [f"group_{i}" for i in range(n_groups)]
    folders = [f"folder_{i}" for i in range(n_folders)]
    docs = [f"doc_{i}" for i in range(n_docs)]

    # groups: a forest up to `group_levels` deep, plus extra edges and 2-cycles
    gparent, gdepth = _tree(rng, n_groups, max(1, n_groups // 10), group_levels, 0.5)
    member: list[tuple[str, str]] = [
        (groups[i], groups[p]) for i, p in enumerate(gparent) if p is not None
    ]
    for _ in range(n_groups // 15):  # a group in a second, shallower group
        a = rng.randrange(n_groups)
        b = rng.randrange(n_groups)
        if gdepth[b] < gdepth[a] and (groups[a], groups[b]) not in member:
            member.append((groups[a], groups[b]))
    cycles = 0
    nested = [(c, p) for c, p in member]
    while cycles < n_cycles and nested:
        c, p = nested.pop(rng.randrange(len(nested)))
        if (p, c) not in member:
            member.append((p, c))  # group p in c and c in p
            cycles += 1
    for u in users:
        for g in rng.sample(groups, rng.randint(1, 3)):
            member.append((u, g))
    suspended = [u for u in users if rng.random() < suspended_share]

    # folders: a forest up to `folder_levels` deep; documents in random folders
    fparent, fdepth = _tree(rng, n_folders, max(1, n_folders // 100), folder_levels, 0.6)
    parent: list[tuple[str, str]] = [
        (folders[i], folders[p]) for i, p in enumerate(fparent) if p is not None
    ]
    doc_folder = {d: rng.randrange(n_folders) for d in docs}
    parent += [(d, folders[f]) for d, f in doc_folder.items()]
    owner = {d: rng.choice(users) for d in docs}

    # grants: about one and a half per folder, mostly to groups
    grants: list[tuple[str, str, str]] = []  # (folder, subject, role)
    for f in folders:
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            subj = rng.choice(groups) if rng.random() < 0.7 else rng.choice(users)
            role = "viewer" if rng.random() < 0.7 else "editor"
            if (f, subj, role) not in grants:
                grants.append((f, subj, role))

    # reference evaluator
    up: dict[str, list[str]] = {}
    for x, g in member:
        up.setdefault(x, []).append(g)
    user_reach = {u: _reach(u, up) for u in users}  # u itself first, then its groups
    user_groups = {u: set(reach) for u, reach in user_reach.items()}
    folder_chain: list[list[int]] = []  # folder index -> itself and its ancestors
    for i in range(n_folders):
        chain = []
        node: int | None = i
        while node is not None:
            chain.append(node)
            node = fparent[node]
        folder_chain.append(chain)
    grants_on: dict[int, list[tuple[str, str]]] = {}
    findex = {f: i for i, f in enumerate(folders)}
    for f, s, role in grants:
        grants_on.setdefault(findex[f], []).append((s, role))
    suspended_set = set(suspended)

    def decide(req: Request) -> bool:
        u, a, d = req
        if u in suspended_set:
            return False
        if owner[d] == u:
            return True
        mine = user_groups[u]
        return any(
            s in mine and a in ROLE_ACTIONS[role]
            for f in folder_chain[doc_folder[d]]
            for s, role in grants_on.get(f, ())
        )

    down: dict[str, list[str]] = {}
    for x, g in member:
        down.setdefault(g, []).append(x)
    group_users = {g: [x for x in _reach(g, down) if x.startswith("user_")] for g in groups}
    subtree_docs: dict[int, list[str]] = {i: [] for i in range(n_folders)}
    for d, fi in doc_folder.items():
        for anc in folder_chain[fi]:
            subtree_docs[anc].append(d)
    useful = [
        g
        for g in grants
        if subtree_docs[findex[g[0]]] and (g[1].startswith("user_") or group_users[g[1]])
    ]

    def make_requests(r: random.Random, n: int) -> list[Request]:
        def likely() -> Request:
            if r.random() < 0.1:
                d = r.choice(docs)
                return (owner[d], r.choice(ACTIONS), d)
            f, s, role = r.choice(useful)
            u = s if s.startswith("user_") else r.choice(group_users[s])
            return (u, r.choice(ROLE_ACTIONS[role]), r.choice(subtree_docs[findex[f]]))

        def anything() -> Request:
            return (r.choice(users), r.choice(ACTIONS), r.choice(docs))

        return _mix(r, n, likely, anything)

    requests = make_requests(random.Random(seed * 1000 + 1), n_requests)
    warmup = make_requests(random.Random(seed * 1000 + 2), n_warmup)

    def cedar_user(u: str) -> dict[str, Any]:
        groups_of = (("Group", g) for g in user_reach[u][1:])
        return cedar_entity("User", u, {"suspended": u in suspended_set}, groups_of)

    def cedar_slice(req: Request) -> list[dict[str, Any]]:
        u, _, d = req
        folders_of = (("Folder", folders[f]) for f in folder_chain[doc_folder[d]])
        doc = cedar_entity("Doc", d, {"owner": cedar_ref("User", owner[d])}, folders_of)
        return [cedar_user(u), doc]

    def cedar_acl_slice(req: Request) -> list[dict[str, Any]]:
        u, _, d = req
        acl: dict[str, dict[str, None]] = {"viewer": {}, "editor": {}}
        for f in folder_chain[doc_folder[d]]:
            for s, role in grants_on.get(f, ()):
                acl[role][s] = None
        attrs = {
            "owner": cedar_ref("User", owner[d]),
            "viewers": [cedar_ref(_rebac_kind(s), s) for s in acl["viewer"]],
            "editors": [cedar_ref(_rebac_kind(s), s) for s in acl["editor"]],
        }
        return [cedar_user(u), cedar_entity("Doc", d, attrs)]

    cedar_requests = [cedar_request(u, a, ("Doc", d)) for u, a, d in requests]

    lines = [REBAC_RULES, "# group membership (users and nested groups)"]
    lines += [fact("in_group", x, g) for x, g in member]
    lines += [fact("suspended", u) for u in suspended]
    lines.append("# folder tree and documents")
    lines += [fact("parent", c, p) for c, p in parent]
    lines += [fact("owner", d, u) for d, u in owner.items()]
    lines.append("# grants: (folder, user or group, role)")
    lines += [fact("grant_on", f, s, role) for f, s, role in grants]

    return Workload(
        name="rebac",
        rules="\n".join(lines) + "\n",
        requests=requests,
        expected=[decide(x) for x in requests],
        warmup=warmup,
        cedar=CedarSpec(
            policies=REBAC_CEDAR_ACL,
            requests=cedar_requests,
            entities=[cedar_acl_slice(x) for x in requests],
            encoding="grants on the document's folders handed over on the document",
        ),
        cedar_alt=CedarSpec(
            policies=rebac_cedar_policies(grants),
            requests=cedar_requests,
            entities=[cedar_slice(x) for x in requests],
            encoding="one permit per grant, resource in its folders",
        ),
        sizes={
            "users": n_users,
            "groups": n_groups,
            "folders": n_folders,
            "docs": n_docs,
            "group_levels": max(gdepth) + 1,
            "folder_levels": max(fdepth) + 1,
            "cycles": cycles,
            "member": len(member),
            "grants": len(grants),
            "suspended": len(suspended),
            "requests": n_requests,
        },
    )


# --------------------------------------------------------------------------------------------
# Scaling: N simple facts looked up by their first argument
# --------------------------------------------------------------------------------------------

SCALE_RULES = """\
# Scaling benchmark: one access-control-list fact per resource, looked up by resource.
allow(?u, ?a, ?r) :- acl(?r, ?u, ?a).
deny(?u, _, _) :- blocked(?u).
blocked("user_blocked").
"""

SCALE_USERS = 1000


def scale_fact(i: int) -> tuple[str, str, str]:
    """The i-th ``acl(resource, user, action)`` fact; computed, so nothing needs storing."""
    return (f"res_{i}", f"user_{(i * 7919 + 13) % SCALE_USERS}", ACTIONS[(i * 31 + 7) % 4])


def scale_fact_lines(n: int) -> Iterable[str]:
    yield SCALE_RULES
    for i in range(n):
        r, u, a = scale_fact(i)
        yield f'acl("{r}", "{u}", "{a}").\n'


def scale_rules(n: int) -> str:
    return "".join(scale_fact_lines(n))


def write_scale_rules(path: str | Path, n: int) -> int:
    """Write the scaling policy with ``n`` facts to ``path``; returns the number of bytes."""
    size = 0
    with open(path, "w", encoding="utf-8") as fh:
        for line in scale_fact_lines(n):
            fh.write(line)
            size += len(line)
    return size


def scale_requests(
    n_facts: int, n_requests: int, seed: int = 4
) -> tuple[list[Request], list[bool]]:
    """Requests against the first ``n_facts`` facts: half exact hits, half wrong user."""
    rng = random.Random(seed)
    reqs: list[Request] = []
    expected: list[bool] = []
    for _ in range(n_requests):
        r, u, a = scale_fact(rng.randrange(n_facts))
        if rng.random() < 0.5:
            reqs.append((u, a, r))
            expected.append(True)
        else:
            other = f"user_{(int(u[5:]) + 1) % SCALE_USERS}"
            reqs.append((other, a, r))
            expected.append(False)
    return reqs, expected


def scale(n_facts: int = 1000, n_requests: int = 2000, seed: int = 4) -> Workload:
    reqs, expected = scale_requests(n_facts, n_requests, seed)
    warm, _ = scale_requests(n_facts, min(500, n_requests), seed + 1)
    return Workload(
        name=f"scale-{n_facts}",
        rules=scale_rules(n_facts),
        requests=reqs,
        expected=expected,
        warmup=warm,
        sizes={"facts": n_facts, "requests": n_requests},
    )


# --------------------------------------------------------------------------------------------

FULL: dict[str, dict[str, int]] = {"rbac": {}, "abac": {}, "rebac": {}}
QUICK: dict[str, dict[str, int]] = {
    "rbac": {"n_users": 200, "n_resources": 2000, "n_requests": 400, "n_warmup": 100},
    "abac": {"n_users": 200, "n_resources": 2000, "n_requests": 400, "n_warmup": 100},
    "rebac": {
        "n_users": 200,
        "n_groups": 60,
        "n_folders": 200,
        "n_docs": 2000,
        "n_requests": 400,
        "n_warmup": 100,
    },
}
# for the tests: every shape of the full sizes, in a fraction of a second
TINY: dict[str, dict[str, int]] = {
    "rbac": {"n_users": 100, "n_resources": 500, "n_requests": 300, "n_warmup": 20},
    "abac": {"n_users": 100, "n_resources": 500, "n_requests": 300, "n_warmup": 20},
    "rebac": {
        "n_users": 100,
        "n_groups": 40,
        "n_folders": 100,
        "n_docs": 500,
        "n_requests": 300,
        "n_warmup": 20,
    },
}
GENERATORS: dict[str, Callable[..., Workload]] = {"rbac": rbac, "abac": abac, "rebac": rebac}


def casbin_enforcer(spec: CasbinSpec) -> Any:
    """A ``casbin.Enforcer`` for ``spec`` (model and policy from strings, logging off)."""
    import casbin

    model = casbin.Enforcer.new_model(text=spec.model)
    if spec.policy:
        return casbin.Enforcer(model, casbin.StringAdapter(spec.policy_text))
    return casbin.Enforcer(model)
