// executions.test.mjs: official npm client polytomic 1.18.1 (pinned in package.json) against
// modelsync's execution endpoints: modelSync.start queues a run that completes (the target
// table really receives the rows), getStatus reports last_execution / current_execution and a
// next run time for a clock schedule, a second start while a run is held raises ConflictError
// (execution_in_progress), cancel stops the held run (it ends canceled) and answers "no
// running execution" when idle, executions.list pages newest first (ascending, only_completed)
// and decodes every Execution, executions.get reads one, executions.update (the legacy PUT) on
// a finished run raises BadRequestError, getLogUrls returns signed URLs, and unknown ids raise
// NotFoundError. A run is held by pointing a webhook target at a local HTTP server that does not
// answer until the test lets it. Environment (set by run.sh): MS_BASE, MS_API_KEY, MS_FIXTURES.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { execFileSync } from "node:child_process";
import { PolytomicClient, Polytomic, PolytomicError } from "polytomic";

const SDK_VERSION = "1.18.1"; // the only version these tests are written for
const env = (k) => {
    const v = process.env[k];
    assert.ok(v, `${k} must be set (run tests/sdk/run.sh)`);
    return v;
};
const client = new PolytomicClient({ environment: env("MS_BASE"), token: env("MS_API_KEY") });
const SRC_DB = `${env("MS_FIXTURES")}/executions-src.db`;
const DST_DB = `${env("MS_FIXTURES")}/executions-dst.db`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const NOID = "0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6";
const TERMINAL = ["completed", "failed", "canceled", "interrupted"];
const sqlite = (db, sql) => execFileSync("sqlite3", [db, sql], { encoding: "utf8" }).trim();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let fast, held, daily; // sync ids
let receiver, holding = false, requests = 0;
const waiters = [];

async function rejectsWith(promise, Class, status, key) {
    await assert.rejects(promise, (err) => {
        assert.ok(err instanceof Class, `expected ${Class.name}, got ${err?.constructor?.name}: ${err?.message}`);
        assert.ok(err instanceof PolytomicError);
        assert.equal(err.statusCode, status);
        assert.equal(err.body?.status, status);
        if (key) assert.equal(err.body?.key, key);
        assert.equal(typeof err.body?.message, "string");
        return true;
    });
}

// Poll executions.get until pred holds (10 s at most); returns the execution.
async function waitFor(syncId, id, pred, what) {
    for (let i = 0; i < 200; i++) {
        const ex = (await client.modelSync.executions.get(syncId, id)).data;
        if (pred(ex)) return ex;
        await sleep(50);
    }
    assert.fail(`execution ${id} never became ${what}`);
}
const terminal = (syncId, id) => waitFor(syncId, id, (e) => TERMINAL.includes(e.status), "terminal");

// The held webhook receiver: answers every batch with {} unless holding, then when released.
function release() {
    holding = false;
    while (waiters.length) waiters.shift()();
}

before(async () => {
    receiver = http.createServer((req, res) => {
        req.resume();
        req.on("end", () => {
            requests++;
            const answer = () => res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
            if (holding) waiters.push(answer);
            else answer();
        });
    });
    await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
    const port = receiver.address().port;

    sqlite(SRC_DB, `CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
        INSERT INTO people SELECT i, 'p' || i || '@example.com' FROM n;`);
    sqlite(DST_DB, "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT);");
    const src = (await client.connections.create({ name: "SDK exec source", type: "sqlite", configuration: { path: SRC_DB } })).data;
    const dst = (await client.connections.create({ name: "SDK exec target", type: "sqlite", configuration: { path: DST_DB } })).data;
    const hook = (
        await client.connections.create({ name: "SDK exec hook", type: "webhook", configuration: { url: `http://127.0.0.1:${port}/hook` } })
    ).data;
    const small = (
        await client.models.create({
            body: { name: "SDK exec few", connection_id: src.id, configuration: { query: "SELECT id, email FROM people WHERE id <= 7" }, identifier: "id" },
        })
    ).data;
    const big = (await client.models.create({ body: { name: "SDK exec all", connection_id: src.id, configuration: { table: "people" }, identifier: "id" } })).data;
    const body = (m, target, extra) => ({
        name: `SDK exec ${Math.random().toString(36).slice(2, 8)}`,
        mode: "updateOrCreate",
        target,
        identity: { source: { model_id: m.id, field: "id" }, target: "id" },
        fields: [{ source: { model_id: m.id, field: "email" }, target: "email" }],
        schedule: { frequency: "manual" },
        ...extra,
    });
    fast = (await client.modelSync.create(body(small, { connection_id: dst.id, object: "contacts" }))).data.id;
    held = (await client.modelSync.create(body(big, { connection_id: hook.id, object: "records" }, { mode: "create" }))).data.id;
    daily = (
        await client.modelSync.create(
            body(small, { connection_id: dst.id, object: "contacts" }, { schedule: { frequency: "daily", hour: "4", minute: "5" } }),
        )
    ).data.id;
});

after(async () => {
    release();
    await new Promise((r) => receiver.close(r));
});

test(`modelSync.start runs to completed, getStatus reports it (polytomic ${SDK_VERSION})`, async () => {
    const started = (await client.modelSync.start(fast)).data;
    assert.match(started.id, UUID);
    assert.equal(started.status, "queued");
    assert.match(started.created_at, TIME);
    const ex = await terminal(fast, started.id);
    assert.equal(ex.status, "completed");
    assert.equal(ex.type, "manual");
    assert.equal(ex.counts.total, 7);
    assert.equal(ex.counts.error, 0);
    assert.match(ex.started_at, TIME);
    assert.match(ex.completed_at, TIME);
    assert.deepEqual(ex.errors, []);
    assert.equal(sqlite(DST_DB, "SELECT count(*) FROM contacts"), "7");

    const st = (await client.modelSync.getStatus(fast)).data;
    assert.equal(st.last_execution.id, started.id);
    assert.equal(st.last_execution.status, "completed");
    assert.equal(st.current_execution, undefined);
    assert.equal(st.next_execution_time, undefined, "manual schedule: no next run");

    const next = (await client.modelSync.getStatus(daily)).data.next_execution_time;
    assert.match(next, /T04:05:00(\.0+)?Z$/);
});

test("start options: resync and test set the execution type", async () => {
    const r = (await client.modelSync.start(fast, { resync: true })).data;
    const rex = await terminal(fast, r.id);
    assert.equal(rex.type, "resync");
    assert.equal(rex.counts.total, 7, "resync processes every record");
    const t = (await client.modelSync.start(fast, { test: true, identities: ["1"] })).data;
    const tex = await terminal(fast, t.id);
    assert.equal(tex.type, "test");
    assert.equal(tex.status, "completed");
});

test("a held run: start again → ConflictError, getStatus current_execution, cancel", async () => {
    holding = true;
    const before = requests;
    const started = (await client.modelSync.start(held, {})).data;
    for (let i = 0; i < 200 && requests === before; i++) await sleep(50);
    assert.ok(requests > before, "the first batch reached the receiver");
    await waitFor(held, started.id, (e) => e.status === "running", "running");

    await rejectsWith(client.modelSync.start(held), Polytomic.ConflictError, 409, "execution_in_progress");
    const st = (await client.modelSync.getStatus(held)).data;
    assert.equal(st.current_execution.id, started.id);
    assert.equal(st.current_execution.status, "running");

    const c = await client.modelSync.cancel(held);
    assert.equal(c.data.message, `cancellation requested for execution ${started.id}`);
    release();
    const ex = await terminal(held, started.id);
    assert.equal(ex.status, "canceled");
    assert.match(ex.completed_at, TIME);

    const idle = await client.modelSync.cancel(held);
    assert.equal(idle.data.message, "no running execution");
    await rejectsWith(
        client.modelSync.executions.update(held, started.id, { status: "canceled" }),
        Polytomic.BadRequestError,
        400,
        "invalid_request",
    );
});

test("executions.list / get", async () => {
    const list = await client.modelSync.executions.list(fast);
    const ids = list.data.map((e) => e.id);
    assert.ok(ids.length >= 3);
    assert.deepEqual(list.pagination, {});
    for (const e of list.data) {
        assert.match(e.id, UUID);
        assert.ok(TERMINAL.includes(e.status));
        assert.deepEqual(Object.keys(e.counts).sort(), ["delete", "error", "insert", "total", "update", "upserts", "warnings"]);
    }
    const starts = list.data.map((e) => e.started_at);
    assert.deepEqual(starts, [...starts].sort().reverse(), "newest first");

    const asc = await client.modelSync.executions.list(fast, { ascending: true, only_completed: true });
    assert.deepEqual(
        asc.data.map((e) => e.id),
        [...ids].reverse(),
    );

    const one = (await client.modelSync.executions.get(fast, ids[0])).data;
    assert.equal(one.id, ids[0]);
    assert.deepEqual(one, list.data[0]);

    const urls = (await client.modelSync.executions.getLogUrls(fast, ids.at(-1), Polytomic.V2ExecutionLogType.Records)).data;
    assert.equal(urls.urls.length, 1);
    assert.ok(urls.urls[0].startsWith(`${env("MS_BASE")}/api/syncs/${fast}/executions/${ids.at(-1)}/records/records.jsonl?expires=`));
    assert.match(urls.expires, TIME);
    const file = await fetch(urls.urls[0]); // signed: no Authorization header
    assert.equal(file.status, 200);
    assert.equal(file.headers.get("content-type"), "application/x-ndjson");
    assert.equal((await file.text()).trim().split("\n").length, 7);
});

test("unknown syncs and executions raise NotFoundError", async () => {
    await rejectsWith(client.modelSync.start(NOID), Polytomic.NotFoundError, 404, "not_found");
    await rejectsWith(client.modelSync.getStatus(NOID), Polytomic.NotFoundError, 404, "not_found");
    await rejectsWith(client.modelSync.cancel(NOID), Polytomic.NotFoundError, 404, "not_found");
    await rejectsWith(client.modelSync.executions.list(NOID), Polytomic.NotFoundError, 404, "not_found");
    await rejectsWith(client.modelSync.executions.get(fast, NOID), Polytomic.NotFoundError, 404, "not_found");
});
