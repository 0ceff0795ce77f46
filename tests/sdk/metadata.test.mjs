// metadata.test.mjs: official npm client polytomic 1.18.1 (pinned in package.json) against
// modelsync's source and target metadata: modelSync.getSource / getSourceFields with the SDK's
// own params encoding (JSON of map<string, string[]>), modelSync.targets.list / getTargetFields /
// getCreateProperty on a SQLite file and a webhook, and the typed errors for an unknown target,
// an unknown property and a destination-only connection used as a source.
// Environment (set by run.sh): MS_BASE, MS_API_KEY, MS_FIXTURES (holds src.db).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { PolytomicClient, Polytomic } from "polytomic";

const SDK_VERSION = "1.18.1"; // the only version these tests are written for
const env = (k) => {
    const v = process.env[k];
    assert.ok(v, `${k} must be set (run tests/sdk/run.sh)`);
    return v;
};
const client = new PolytomicClient({ environment: env("MS_BASE"), token: env("MS_API_KEY") });
const DB = `${env("MS_FIXTURES")}/src.db`;
const DB_MODES = ["append", "create", "remove", "replace", "update", "updateOrCreate"];
const value = (v) => (typeof v === "string" ? v : v.value ?? v.id ?? v.name);
let sqlite, hook;

async function rejectsWith(promise, Class, status) {
    await assert.rejects(promise, (err) => {
        assert.ok(err instanceof Class, `expected ${Class.name}, got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.statusCode, status);
        return true;
    });
}

before(async () => {
    sqlite = (await client.connections.create({ name: "SDK Meta DB", type: "sqlite", configuration: { path: DB } })).data;
    hook = (
        await client.connections.create({ name: "SDK Meta Hook", type: "webhook", configuration: { url: "http://127.0.0.1:9/h" } })
    ).data;
});

test(`modelSync.getSource (polytomic ${SDK_VERSION})`, async () => {
    const res = await client.modelSync.getSource(sqlite.id, { params: { table: ["users"] } });
    const tables = res.data.items.table.items.map(value);
    assert.ok(tables.includes("users") && tables.includes("orders"), `tables: ${tables}`);
    await rejectsWith(client.modelSync.getSource(hook.id), Polytomic.BadRequestError, 400);
});

test("modelSync.getSourceFields with SDK-encoded params", async () => {
    const res = await client.modelSync.getSourceFields(sqlite.id, { params: { table: ["users"] } });
    assert.deepEqual(res.data.map((f) => f.name), ["id", "email", "name", "age", "score", "active", "updated_at"]);
    for (const f of res.data) assert.equal(typeof f.type, "string");
    const q = await client.modelSync.getSourceFields(sqlite.id, { params: { query: ["SELECT id, total FROM orders"] } });
    assert.deepEqual(q.data.map((f) => f.name), ["id", "total"]);
});

test("modelSync.targets.list", async () => {
    const res = await client.modelSync.targets.list(sqlite.id);
    const users = res.data.find((o) => o.id === "users");
    assert.ok(users, "users is a target object");
    assert.deepEqual(users.modes.map((m) => m.id).sort(), DB_MODES);
    for (const m of users.modes) {
        assert.equal(m.requires_identity, ["update", "updateOrCreate", "remove"].includes(m.id), `${m.id}.requires_identity`);
    }
    assert.equal(res.target_creation.supported, true);
    const hooks = await client.modelSync.targets.list(hook.id);
    assert.deepEqual(hooks.data.map((o) => o.id), ["records"]);
    assert.equal(hooks.target_creation.supported, false);
});

test("modelSync.targets.getTargetFields", async () => {
    const res = await client.modelSync.targets.getTargetFields(sqlite.id, { target: "users", refresh: false });
    assert.equal(res.data.id, "users");
    const names = res.data.fields.map((f) => f.name);
    for (const n of ["id", "email", "name"]) assert.ok(names.includes(n), `field ${n}`);
    assert.deepEqual(res.data.modes.map((m) => m.mode).sort(), DB_MODES);
    for (const m of res.data.modes) assert.ok(m.label && m.description, `${m.mode} label/description`);
    assert.ok(!Number.isNaN(Date.parse(res.data.refreshed_at)), "refreshed_at parses");
    await rejectsWith(client.modelSync.targets.getTargetFields(sqlite.id, { target: "nope" }), Polytomic.NotFoundError, 404);
});

test("modelSync.targets.getCreateProperty", async () => {
    const list = await client.modelSync.targets.list(sqlite.id);
    const prop = list.target_creation.properties[0].id;
    const res = await client.modelSync.targets.getCreateProperty(sqlite.id, prop);
    assert.equal(res.data.id, prop);
    assert.ok(Array.isArray(res.data.values));
    await rejectsWith(client.modelSync.targets.getCreateProperty(sqlite.id, "nope"), Polytomic.NotFoundError, 404);
});
