// syncs.test.mjs: official npm client polytomic 1.18.1 (pinned in package.json) against
// modelsync's Model Sync configuration API: getScheduleOptions, getSource / getSourceFields and
// targets.list / getTargetFields to discover what a sync may map, then modelSync.create, get,
// list (with each filter), update, activate and remove on a SQLite table, every member checked
// against what was sent; target.create making a real table; the typed errors (BadRequestError,
// UnprocessableEntityError, NotFoundError, ConflictError) with their ApiError bodies. 1.18.1's
// list() sends no limit or page_token, so paging is walked over raw HTTP with fetch.
// Environment (set by run.sh): MS_BASE, MS_API_KEY, MS_ORG_ID, MS_USER_ID, MS_FIXTURES.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { PolytomicClient, Polytomic, PolytomicError } from "polytomic";

const SDK_VERSION = "1.18.1"; // the only version these tests are written for
const env = (k) => {
    const v = process.env[k];
    assert.ok(v, `${k} must be set (run tests/sdk/run.sh)`);
    return v;
};
const client = new PolytomicClient({ environment: env("MS_BASE"), token: env("MS_API_KEY") });
const SRC_DB = `${env("MS_FIXTURES")}/src.db`;
const DST_DB = `${env("MS_FIXTURES")}/syncs-dst.db`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NOID = "0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6";
let src, dst, model, base;

async function rejectsWith(promise, Class, status, key, field) {
    await assert.rejects(promise, (err) => {
        assert.ok(err instanceof Class, `expected ${Class.name}, got ${err?.constructor?.name}: ${err?.message}`);
        assert.ok(err instanceof PolytomicError);
        assert.equal(err.statusCode, status);
        assert.equal(err.body?.status, status);
        if (key) assert.equal(err.body?.key, key);
        if (field) assert.equal(err.body?.metadata?.field, field);
        assert.equal(typeof err.body?.message, "string");
        return true;
    });
}

const sqlite = (db, sql) => execFileSync("sqlite3", [db, sql], { encoding: "utf8" }).trim();

before(async () => {
    sqlite(DST_DB, "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT, full_name TEXT, age INTEGER);");
    src = (await client.connections.create({ name: "SDK Sync Source", type: "sqlite", configuration: { path: SRC_DB } })).data;
    dst = (await client.connections.create({ name: "SDK Sync Target", type: "sqlite", configuration: { path: DST_DB } })).data;
    model = (
        await client.models.create({ body: { name: "SDK Sync Users", connection_id: src.id, configuration: { table: "users" }, identifier: "id" } })
    ).data;
    base = () => ({
        name: "SDK users to contacts",
        mode: "updateOrCreate",
        target: { connection_id: dst.id, object: "contacts" },
        identity: { source: { model_id: model.id, field: "id" }, target: "id", function: "Equality" },
        fields: [
            { source: { model_id: model.id, field: "email" }, target: "email" },
            { source: { model_id: model.id, field: "name" }, target: "full_name" },
        ],
        schedule: { frequency: "daily", hour: "6", minute: "15" },
    });
});

test(`modelSync.getScheduleOptions (polytomic ${SDK_VERSION})`, async () => {
    const res = await client.modelSync.getScheduleOptions();
    const opts = res.data.schedule_options;
    assert.deepEqual(
        opts.map((o) => o.frequency),
        ["manual", "continuous", "hourly", "daily", "weekly", "custom", "builder", "runafter"],
    );
    for (const o of opts) {
        assert.equal(typeof o.label, "string");
        assert.equal(typeof o.description, "string");
        assert.equal(typeof o.configuration, "object");
    }
    assert.deepEqual(opts.find((o) => o.frequency === "manual").configuration, {});
    assert.deepEqual(opts.find((o) => o.frequency === "daily").configuration.required, ["hour", "minute"]);
});

test("discover the mapping: getSource, getSourceFields, targets.list, targets.getTargetFields", async () => {
    const meta = await client.modelSync.getSource(src.id);
    assert.ok(meta.data.items.table.items.length >= 2, "source tables listed");
    const fields = (await client.modelSync.getSourceFields(src.id, { params: { table: ["users"] } })).data.map((f) => f.name);
    for (const f of ["id", "email", "name"]) assert.ok(fields.includes(f), `source field ${f}`);
    const objects = await client.modelSync.targets.list(dst.id);
    const contacts = objects.data.find((o) => o.id === "contacts");
    assert.ok(contacts, "contacts is a target object");
    assert.ok(contacts.modes.some((m) => m.id === "updateOrCreate" && m.requires_identity === true));
    const tf = (await client.modelSync.targets.getTargetFields(dst.id, { target: "contacts" })).data;
    assert.deepEqual(tf.fields.map((f) => f.id).sort(), ["age", "email", "full_name", "id"]);
});

test("modelSync.create / get / list / update / activate / remove", async () => {
    const sent = {
        ...base(),
        active: false,
        filters: [
            { field: { model_id: model.id, field: "age" }, function: "GreaterThanEqual", value: 18, label: "A" },
            { field_id: "email", function: "StringOneOf", value: ["ada@example.com", "alan@example.com"], label: "B" },
        ],
        filter_logic: "A OR B",
        overrides: [{ field_id: "name", function: "IsNull", override: "unknown" }],
        override_fields: [{ target: "age", override_value: "0" }],
        sync_all_records: true,
        skip_initial_backfill: true,
        policies: [NOID],
    };
    const created = (await client.modelSync.create(sent)).data;
    assert.match(created.id, UUID);
    assert.equal(created.organization_id, env("MS_ORG_ID"));
    assert.equal(created.name, sent.name);
    assert.equal(created.active, false);
    assert.equal(created.mode, "updateOrCreate");
    assert.deepEqual(created.target, sent.target);
    assert.deepEqual(created.identity, sent.identity);
    assert.deepEqual(created.fields, sent.fields);
    assert.deepEqual(created.filters, sent.filters);
    assert.equal(created.filter_logic, "A OR B");
    assert.deepEqual(created.overrides, sent.overrides);
    assert.deepEqual(created.override_fields, sent.override_fields);
    assert.deepEqual(created.schedule, sent.schedule);
    assert.deepEqual(created.policies, [NOID]);
    assert.deepEqual(created.model_ids, [model.id]);
    assert.equal(created.sync_all_records, true);
    assert.equal(created.skip_initial_backfill, true);
    assert.equal(created.only_enrich_updates, false);
    assert.equal(created.encryption_passphrase, undefined);
    assert.ok(!Number.isNaN(Date.parse(created.created_at)) && created.created_at.endsWith("Z"));
    assert.equal(created.updated_at, created.created_at);
    assert.deepEqual(created.created_by, { id: env("MS_USER_ID"), name: "sdk@example.com", type: "user" });
    assert.deepEqual(created.updated_by, created.created_by);

    const got = (await client.modelSync.get(created.id)).data;
    assert.deepEqual(got, created);

    for (const filter of [{}, { active: false }, { mode: "updateOrCreate" }, { target_connection_id: dst.id }]) {
        const items = (await client.modelSync.list(filter)).data;
        const item = items.find((s) => s.id === created.id);
        assert.ok(item, `listed with ${JSON.stringify(filter)}`);
        assert.equal(item.name, sent.name);
        assert.equal(item.target_connection_id, dst.id);
        assert.equal(item.target_object, "contacts");
        assert.deepEqual(item.model_ids, [model.id]);
        assert.deepEqual(item.schedule, sent.schedule);
        assert.equal(item.fields, undefined, "list items are the light projection");
    }
    assert.ok(!(await client.modelSync.list({ active: true })).data.some((s) => s.id === created.id), "active filter");
    assert.ok(!(await client.modelSync.list({ mode: "create" })).data.some((s) => s.id === created.id), "mode filter");

    const update = { ...base(), name: "SDK renamed", schedule: { frequency: "custom", minute: "*/10", day_of_week: "mon-fri" } };
    const upd = (await client.modelSync.update(created.id, update)).data;
    assert.equal(upd.id, created.id);
    assert.equal(upd.name, "SDK renamed");
    assert.equal(upd.active, false, "active absent keeps the stored value");
    assert.deepEqual(upd.filters, [], "full replacement");
    assert.equal(upd.filter_logic, undefined);
    assert.deepEqual(upd.overrides, []);
    assert.equal(upd.sync_all_records, false);
    assert.deepEqual(upd.schedule, update.schedule);
    assert.equal(upd.created_at, created.created_at);
    assert.ok(Date.parse(upd.updated_at) > Date.parse(created.updated_at), "updated_at moved");

    const act = await client.modelSync.activate(created.id, { active: true });
    assert.deepEqual(act.data, { id: created.id, active: true });
    assert.equal((await client.modelSync.get(created.id)).data.active, true);

    // what a GET returns can be PUT back unchanged
    const before = (await client.modelSync.get(created.id)).data;
    const after = (await client.modelSync.update(created.id, before)).data;
    const strip = ({ updated_at, updated_by, ...rest }) => rest;
    assert.deepEqual(strip(after), strip(before));

    assert.equal(await client.modelSync.remove(created.id), undefined);
    await rejectsWith(client.modelSync.get(created.id), Polytomic.NotFoundError, 404, "not_found");
    await rejectsWith(client.modelSync.remove(created.id), Polytomic.NotFoundError, 404, "not_found");
});

test("target.create makes a table and returns it in target.object", async () => {
    const s = (
        await client.modelSync.create({
            ...base(),
            name: "SDK create table",
            target: { connection_id: dst.id, create: { table: "sdk_people" } },
        })
    ).data;
    assert.deepEqual(s.target, { connection_id: dst.id, object: "sdk_people" });
    assert.equal(sqlite(DST_DB, "SELECT group_concat(name, ',') FROM pragma_table_info('sdk_people')"), "id,email,full_name");
    await client.modelSync.remove(s.id);
});

test("typed errors", async () => {
    await rejectsWith(client.modelSync.create({ ...base(), mode: "enrich" }), Polytomic.BadRequestError, 400, "invalid_request", "mode");
    await rejectsWith(
        client.modelSync.create({ ...base(), schedule: { frequency: "daily", hour: "24", minute: "0" } }),
        Polytomic.BadRequestError,
        400,
        "invalid_request",
        "schedule.hour",
    );
    await rejectsWith(
        client.modelSync.create({ ...base(), target: { connection_id: dst.id, object: "nope" } }),
        Polytomic.UnprocessableEntityError,
        422,
        "validation_failed",
        "target.object",
    );
    await rejectsWith(
        client.modelSync.create({ ...base(), mode: "snapshot" }),
        Polytomic.UnprocessableEntityError,
        422,
        "unsupported_mode",
        "mode",
    );
    // the SDK's own docstring example: a mapping without a source, and no target object
    await rejectsWith(
        client.modelSync.create({ fields: [{ target: "name" }], mode: "create", name: "Users Sync", schedule: {}, target: { connection_id: dst.id } }),
        Polytomic.UnprocessableEntityError,
        422,
    );
    await rejectsWith(client.modelSync.create({ ...base(), organization_id: NOID }), Polytomic.ForbiddenError, 403, "forbidden");
    await rejectsWith(client.modelSync.get(NOID), Polytomic.NotFoundError, 404, "not_found");
    await rejectsWith(client.modelSync.update(NOID, base()), Polytomic.NotFoundError, 404, "not_found");
    await rejectsWith(client.modelSync.activate(NOID, { active: true }), Polytomic.NotFoundError, 404, "not_found");
    await rejectsWith(client.modelSync.remove(NOID), Polytomic.NotFoundError, 404, "not_found");

    const up = (await client.modelSync.create({ ...base(), name: "SDK upstream" })).data;
    const down = (
        await client.modelSync.create({ ...base(), name: "SDK downstream", schedule: { frequency: "runafter", run_after: { sync_ids: [up.id] } } })
    ).data;
    await rejectsWith(client.modelSync.remove(up.id), Polytomic.ConflictError, 409, "conflict");
    await client.modelSync.remove(down.id);
    await client.modelSync.remove(up.id);
});

test("paging over raw HTTP (1.18.1 sends no limit or page_token)", async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await client.modelSync.create({ ...base(), name: `SDK page ${i}` })).data.id);
    const seen = [];
    const keys = [];
    let token = "";
    for (let pages = 0; pages < 50; pages++) {
        const url = new URL(`${env("MS_BASE")}/api/syncs`);
        url.searchParams.set("limit", "2");
        url.searchParams.set("target_connection_id", dst.id);
        if (token) url.searchParams.set("page_token", token);
        const res = await fetch(url, { headers: { Authorization: `Bearer ${env("MS_API_KEY")}` } });
        assert.equal(res.status, 200);
        const body = await res.json();
        assert.ok(body.data.length <= 2);
        seen.push(...body.data.map((s) => s.id));
        keys.push(...body.data.map((s) => `${s.updated_at} ${s.id}`));
        token = body.pagination.next_page_token;
        if (!token) {
            assert.deepEqual(body.pagination, {});
            break;
        }
        assert.match(token, /^[A-Za-z0-9_-]+$/);
    }
    assert.equal(new Set(seen).size, seen.length, "no duplicates");
    for (const id of ids) assert.ok(seen.includes(id), `paged to ${id}`);
    assert.deepEqual(keys, [...keys].sort().reverse(), "updated_at desc, id desc across pages");
    for (const id of ids) await client.modelSync.remove(id);
});
