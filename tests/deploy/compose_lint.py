"""Parse and lint the container files (no container is built here).

usage: compose_lint.py REPO_ROOT

docker-compose.yml (SQLite default) and docker-compose.postgres.yml
(production variant) are parsed with PyYAML and checked field by field
against what docs/deployment.md promises; the Dockerfile by its
instructions. Every finding is printed; the exit status is 1 if any.
"""
import os
import re
import sys

import yaml

PROBLEMS = []


def need(cond, msg):
    if not cond:
        PROBLEMS.append(msg)


def port_bindings(svc):
    """(host_ip, host_port, container_port) of each published port."""
    out = []
    for p in svc.get("ports", []):
        if isinstance(p, dict):  # long syntax
            out.append((p.get("host_ip", ""), str(p.get("published", "")), str(p.get("target"))))
            continue
        parts = str(p).split(":")
        if len(parts) == 3:
            out.append((parts[0], parts[1], parts[2]))
        elif len(parts) == 2:
            out.append(("", parts[0], parts[1]))
        else:
            out.append(("", "", parts[0]))
    return out


def env_of(svc):
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return env


def check_taas(name, svc, path):
    env = env_of(svc)
    secure = "TAAS_TLS_CERT" in env and "TAAS_TOKENS_FILE" in env
    insecure = "--insecure" in (svc.get("command") or [])
    need(svc.get("build") is not None or svc.get("image"), "%s: %s has neither build nor image" % (path, name))
    binds = port_bindings(svc)
    targets = {c for _, _, c in binds}
    need("50051" in targets, "%s: %s does not publish gRPC (50051)" % (path, name))
    need("8080" in targets, "%s: %s does not publish the dashboard/HTTP port (8080)" % (path, name))
    for ip, host, cont in binds:
        need(secure or ip in ("127.0.0.1", "::1", "[::1]"),
             "%s: %s publishes %s on every interface (%r) without TLS and tokens"
             % (path, name, cont, ip or "0.0.0.0"))
    need(not insecure or not secure, "%s: %s passes --insecure although TLS and tokens are set" % (path, name))
    vols = svc.get("volumes", [])
    mounts = [str(v).split(":")[1] if not isinstance(v, dict) else v.get("target") for v in vols]
    need("/var/lib/taas" in mounts, "%s: %s keeps /var/lib/taas in the container, not on a volume" % (path, name))
    hc = svc.get("healthcheck")
    need(hc is None or "readyz" in " ".join(map(str, hc.get("test", []))),
         "%s: %s overrides the image's /readyz health check" % (path, name))
    return env


def check_named_volumes(doc, path):
    declared = set((doc.get("volumes") or {}).keys())
    for name, svc in doc["services"].items():
        for v in svc.get("volumes", []):
            src = str(v).split(":")[0] if not isinstance(v, dict) else v.get("source", "")
            if src and not src.startswith((".", "/", "~")):
                need(src in declared, "%s: %s uses volume %s, not declared under volumes:" % (path, name, src))


def load(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    need(isinstance(doc, dict) and isinstance(doc.get("services"), dict), "%s: no services" % path)
    allowed = {"services", "volumes", "networks", "configs", "secrets", "name"}
    for k in doc:
        need(k in allowed, "%s: unknown top-level key %r" % (path, k))
    svc_keys = {"build", "image", "environment", "command", "entrypoint", "volumes", "ports",
                "depends_on", "healthcheck", "restart", "stop_grace_period", "profiles",
                "networks", "user", "working_dir", "env_file", "labels", "deploy", "expose"}
    for name, svc in doc["services"].items():
        for k in svc:
            need(k in svc_keys, "%s: service %s: unknown key %r" % (path, name, k))
        for dep, cond in (svc.get("depends_on") or {}).items() if isinstance(svc.get("depends_on"), dict) else []:
            need(dep in doc["services"], "%s: %s depends on unknown service %s" % (path, name, dep))
            need(cond.get("condition") in ("service_started", "service_healthy",
                                           "service_completed_successfully"),
                 "%s: %s: bad depends_on condition %r" % (path, name, cond))
        hc = svc.get("healthcheck")
        if hc:
            for k in ("interval", "timeout", "start_period"):
                if k in hc:
                    need(re.fullmatch(r"\d+(ms|s|m|h)", str(hc[k])), "%s: %s: healthcheck %s %r" % (path, name, k, hc[k]))
            need(isinstance(hc.get("retries", 1), int), "%s: %s: healthcheck retries" % (path, name))
    check_named_volumes(doc, path)
    return doc


def main():
    root = sys.argv[1]
    sqlite_path = os.path.join(root, "docker-compose.yml")
    pg_path = os.path.join(root, "docker-compose.postgres.yml")

    doc = load(sqlite_path)
    env = check_taas("taas", doc["services"].get("taas", {}), sqlite_path)
    need("DATABASE_URL" not in env or env["DATABASE_URL"].startswith("sqlite:"),
         "%s: the default file must run the SQLite default" % sqlite_path)
    need("postgres" not in doc["services"], "%s: PostgreSQL belongs in %s" % (sqlite_path, pg_path))

    doc = load(pg_path)
    svcs = doc["services"]
    env = check_taas("taas", svcs.get("taas", {}), pg_path)
    url = env.get("DATABASE_URL", "")
    need(re.fullmatch(r"postgresql://[^:@/]+:[^@/]+@postgres:5432/\w+", url),
         "%s: DATABASE_URL %r is not postgresql://user:pass@postgres:5432/db" % (pg_path, url))
    pg = svcs.get("postgres", {})
    penv = env_of(pg)
    m = re.match(r"postgresql://([^:]+):([^@]+)@postgres:5432/(\w+)", url)
    if m:
        need((penv.get("POSTGRES_USER"), penv.get("POSTGRES_PASSWORD"), penv.get("POSTGRES_DB")) == m.groups(),
             "%s: DATABASE_URL and POSTGRES_USER/PASSWORD/DB disagree" % pg_path)
    test = " ".join(map(str, (pg.get("healthcheck") or {}).get("test", [])))
    need("pg_isready" in test and re.search(r"-h\s+(127\.0\.0\.1|localhost)", test) and "5432" in test,
         "%s: the PostgreSQL health check must go over TCP (pg_isready -h 127.0.0.1 -p 5432)" % pg_path)
    need((svcs["taas"].get("depends_on") or {}).get("postgres", {}).get("condition") == "service_healthy",
         "%s: taas must wait for a healthy postgres" % pg_path)
    mounts = [str(v).split(":")[1] for v in pg.get("volumes", [])]
    need("/var/lib/postgresql/data" in mounts, "%s: PostgreSQL data not on a volume" % pg_path)
    for ip, _, cont in port_bindings(pg):
        need(ip in ("127.0.0.1", "::1"), "%s: postgres publishes %s on every interface" % (pg_path, cont))
    cmd = " ".join(map(str, pg.get("command") or []))
    need("synchronous_commit=on" in cmd, "%s: synchronous_commit must be on" % pg_path)

    # The Dockerfile.
    with open(os.path.join(root, "Dockerfile")) as f:
        text = f.read()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    instr = [l.strip() for l in lines if l.strip() and not l.strip().startswith("#")]
    need(any(re.fullmatch(r'VOLUME\s+(\["/var/lib/taas"\]|/var/lib/taas)', l) for l in instr),
         "Dockerfile: no VOLUME /var/lib/taas")
    hc = [l for l in instr if l.startswith("HEALTHCHECK")]
    need(len(hc) == 1 and "/readyz" in hc[0], "Dockerfile: the HEALTHCHECK must ask /readyz")
    need(any(l.startswith("EXPOSE") and "8080" in l and "50051" in l for l in instr),
         "Dockerfile: EXPOSE 50051 8080")
    need("TAAS_HTTP=0.0.0.0:8080" in text, "Dockerfile: TAAS_HTTP not set")
    runtime = text.split("FROM debian:12-slim", 1)[-1]
    for pkg in ("libmicrohttpd12", "curl"):
        need(re.search(r"\b%s\b" % pkg, runtime), "Dockerfile: runtime stage lacks %s" % pkg)
    need("libmicrohttpd-dev" in text.split("FROM debian:12-slim", 1)[0],
         "Dockerfile: build stage lacks libmicrohttpd-dev")
    need(re.search(r"^USER\s+(?!root)\S+", text, re.M), "Dockerfile: runs as root")

    for p in PROBLEMS:
        print("compose_lint: " + p)
    print("compose_lint: %d problem(s)" % len(PROBLEMS))
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())
