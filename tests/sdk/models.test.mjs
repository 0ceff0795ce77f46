// models.test.mjs: official npm client polytomic 1.18.1 (pinned in package.json) against
// modelsync's model endpoints: models.create/get/list/update/sample/preview/remove on a SQLite
// table, every member checked against what was sent (fields discovered from the seed, field ids
// stable, version bumped), sample records keyed by the model id, preview persisting nothing,
// a removed id raising NotFoundError, bad input raising typed errors, jobs.get on an unknown
// job raising NotFoundError.
// Environment (set by run.sh): MS_BASE, MS_API_KEY, MS_ORG_ID, MS_FIXTURES (holds src.db).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { PolytomicClient, Polytomic, PolytomicError } from "polytomic";

const SDK_VERSION = "1.18.1"; // the only version these tests are written for
const env = (k) => {
    const v = process.env[k];
    assert.ok(v, `${k} must be set (run tests/sdk/run.sh)`);
    return v;
};
const client = new PolytomicClient({ environment: env("MS_BASE"), token: env("MS_API_KEY") });
const DB = `${env("MS_FIXTURES")}/src.db`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const USER_FIELDS = ["id", "email", "name", "age", "score", "active", "updated_at"];
const NOID = "0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6";
let conn;

async function rejectsWith(promise, Class, status, key) {
    await assert.rejects(promise, (err) => {
        assert.ok(err instanceof Class, `expected ${Class.name}, got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.statusCode, status);
        if (key) assert.equal(err.body?.key, key);
        return true;
    });
}
const fieldIds = (m) => Object.fromEntries(m.fields.map((f) => [f.name, f.id]));

before(async () => {
    conn = (await client.connections.create({ name: "SDK Models Source", type: "sqlite", configuration: { path: DB } })).data;
});

test(`models create/get/list/update/sample/remove (polytomic ${SDK_VERSION})`, async () => {
    const body = {
        name: "SDK Users",
        connection_id: conn.id,
        configuration: { table: "users" },
        identifier: "id",
        tracking_columns: ["updated_at"],
        additional_fields: [{ name: "segment", label: "Segment", type: "string" }],
    };
    const m = (await client.models.create({ body })).data;
    assert.match(m.id, UUID);
    assert.equal(m.name, "SDK Users");
    assert.equal(m.connection_id, conn.id);
    assert.equal(m.organization_id, env("MS_ORG_ID"));
    assert.equal(m.type, "sqlite");
    assert.deepEqual(m.configuration, { table: "users" });
    assert.equal(m.identifier, "id");
    assert.deepEqual(m.tracking_columns, ["updated_at"]);
    assert.deepEqual(m.fields.filter((f) => !f.user_added).map((f) => f.name), USER_FIELDS);
    const seg = m.fields.find((f) => f.name === "segment");
    assert.ok(seg && seg.user_added === true && seg.label === "Segment" && seg.type === "string", "additional field");
    assert.equal(m.fields.find((f) => f.name === "email").type, "string");
    assert.equal(typeof m.version, "number");

    const got = (await client.models.get(m.id)).data;
    assert.equal(got.id, m.id);
    assert.equal(got.name, "SDK Users");
    assert.equal(got.identifier, "id");
    assert.deepEqual(fieldIds(got), fieldIds(m));

    const list = (await client.models.list()).data;
    assert.ok(list.some((x) => x.id === m.id && x.name === "SDK Users"), "model listed");

    const upd = (
        await client.models.update(m.id, {
            name: "SDK Users v2",
            connection_id: conn.id,
            configuration: { table: "users" },
            identifier: "email",
            additional_fields: [{ name: "segment", label: "Segment", type: "string" }],
        })
    ).data;
    assert.equal(upd.id, m.id);
    assert.equal(upd.name, "SDK Users v2");
    assert.equal(upd.identifier, "email");
    assert.equal(upd.version, m.version + 1);
    assert.deepEqual(fieldIds(upd), fieldIds(m));

    const sample = (await client.models.sample(m.id)).data;
    assert.equal(sample.records.length, 5);
    for (const r of sample.records) assert.deepEqual(Object.keys(r), [m.id]);
    const emails = sample.records.map((r) => r[m.id].email).sort();
    assert.deepEqual(emails, ["ada@example.com", "alan@example.com", "barbara@example.com", "grace@example.com", "kurt@example.com"]);
    const kurt = sample.records.map((r) => r[m.id]).find((r) => r.id === 4);
    assert.equal(kurt.name, "Kurt Gödel");
    assert.equal(kurt.score, null);

    assert.equal(await client.models.remove(m.id), undefined);
    await rejectsWith(client.models.get(m.id), Polytomic.NotFoundError, 404, "not_found");
    await rejectsWith(client.models.sample(m.id), Polytomic.NotFoundError, 404);
    await rejectsWith(client.models.remove(m.id), Polytomic.NotFoundError, 404);
    assert.ok(!(await client.models.list()).data.some((x) => x.id === m.id), "removed model not listed");
});

// Other test files run in parallel on the same organization: "persists nothing" is checked by
// name, not by counting.
test("models.preview persists nothing", async () => {
    const p = (
        await client.models.preview({
            body: { name: "SDK Preview", connection_id: conn.id, configuration: { query: "SELECT id, email FROM users" } },
        })
    ).data;
    assert.deepEqual(p.fields.map((f) => f.name), ["id", "email"]);
    assert.ok(!(await client.models.list()).data.some((x) => x.name === "SDK Preview"), "no 'SDK Preview' model");
    if (p.id) await rejectsWith(client.models.get(p.id), Polytomic.NotFoundError, 404);
});

test("bad model input raises typed errors", async () => {
    await rejectsWith(
        client.models.create({ body: { name: "SDK Bad", connection_id: conn.id, configuration: { table: "users", bogus: 1 } } }),
        Polytomic.BadRequestError,
        400,
        "invalid_request",
    );
    await rejectsWith(
        client.models.create({ body: { name: "SDK Bad", connection_id: conn.id, configuration: { query: "DELETE FROM users" } } }),
        Polytomic.BadRequestError,
        400,
    );
    // 422 is not one of models.create's typed errors in 1.18.1: it arrives as a PolytomicError.
    await assert.rejects(
        client.models.create({ body: { name: "SDK Bad", connection_id: NOID, configuration: { table: "users" } } }),
        (err) => {
            assert.ok(err instanceof PolytomicError, `got ${err?.constructor?.name}`);
            assert.equal(err.statusCode, 422);
            assert.equal(err.body?.status, 422);
            return true;
        },
    );
    assert.ok(!(await client.models.list()).data.some((x) => x.name === "SDK Bad"), "no 'SDK Bad' model");
});

test("jobs.get on an unknown job raises NotFoundError", async () => {
    await rejectsWith(client.jobs.get(NOID, "createmodel"), Polytomic.NotFoundError, 404, "not_found");
});
