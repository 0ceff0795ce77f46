// connections.test.mjs: official npm client polytomic 1.18.1 (pinned in package.json) against
// modelsync's connection endpoints: getTypes and getConnectionTypeSchema decode, a SQLite
// connection goes through create/list/get/update/remove with every member checked against what
// was sent, testConnection resolves on success and raises BadRequestError on failure, bad input
// and unknown types raise the typed 400/422 errors, secrets come back redacted, a connection in
// use needs force, and a removed id raises NotFoundError (statusCode 404, ApiError body).
// Environment (set by run.sh): MS_BASE, MS_API_KEY, MS_ORG_ID, MS_FIXTURES (holds src.db).
import { test } from "node:test";
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

test(`connections.getTypes (polytomic ${SDK_VERSION})`, async () => {
    const res = await client.connections.getTypes();
    const ids = res.data.map((t) => t.id);
    for (const id of ["sqlite", "postgresql", "csv", "jsonl", "webhook"]) assert.ok(ids.includes(id), `${id} listed`);
    for (const t of res.data) {
        for (const k of ["source", "destination", "enrichment", "orchestration"]) {
            assert.equal(typeof t.capabilities[k], "boolean", `${t.id}.capabilities.${k}`);
        }
    }
    const hook = res.data.find((t) => t.id === "webhook");
    assert.equal(hook.capabilities.source, false);
    assert.equal(hook.capabilities.destination, true);
});

test("connections.getConnectionTypeSchema", async () => {
    const schema = await client.connections.getConnectionTypeSchema("sqlite");
    assert.equal(schema.type, "object");
    assert.ok(schema.properties.path, "properties.path");
    await rejectsWith(client.connections.getConnectionTypeSchema("oracle"), Polytomic.NotFoundError, 404, "not_found");
});

test("create, list, get, update, remove a SQLite connection", async () => {
    const created = await client.connections.create({
        name: "SDK SQLite",
        type: "sqlite",
        configuration: { path: DB },
        validate: true,
    });
    const c = created.data;
    assert.match(c.id, UUID);
    assert.equal(c.name, "SDK SQLite");
    assert.equal(c.type.id, "sqlite");
    assert.deepEqual(c.configuration, { path: DB });
    assert.equal(c.status, "healthy");
    assert.equal(c.organization_id, env("MS_ORG_ID"));

    const list = await client.connections.list();
    const listed = list.data.find((x) => x.id === c.id);
    assert.ok(listed, "created connection is listed");
    assert.equal(listed.name, "SDK SQLite");
    assert.deepEqual(listed.configuration, { path: DB });

    const got = (await client.connections.get(c.id)).data;
    assert.equal(got.id, c.id);
    assert.equal(got.name, "SDK SQLite");
    assert.equal(got.type.id, "sqlite");
    assert.deepEqual(got.configuration, { path: DB });
    assert.equal(got.organization_id, env("MS_ORG_ID"));
    assert.ok(!Number.isNaN(Date.parse(got.created_at)), "created_at parses");
    assert.ok(!Number.isNaN(Date.parse(got.updated_at)), "updated_at parses");

    const updated = (await client.connections.update(c.id, { name: "SDK SQLite Renamed", configuration: { path: DB } })).data;
    assert.equal(updated.id, c.id);
    assert.equal(updated.name, "SDK SQLite Renamed");
    assert.deepEqual(updated.configuration, { path: DB });
    assert.equal((await client.connections.get(c.id)).data.name, "SDK SQLite Renamed");

    assert.equal(await client.connections.remove(c.id), undefined);
    await rejectsWith(client.connections.get(c.id), Polytomic.NotFoundError, 404, "not_found");
    await rejectsWith(client.connections.remove(c.id), Polytomic.NotFoundError, 404, "not_found");
    await rejectsWith(client.connections.update(c.id, { name: "x", configuration: { path: DB } }), Polytomic.NotFoundError, 404);
    assert.ok(!(await client.connections.list()).data.some((x) => x.id === c.id), "removed connection is not listed");
});

test("connections.testConnection", async () => {
    assert.equal(await client.connections.testConnection({ type: "sqlite", configuration: { path: DB } }), undefined);
    await rejectsWith(
        client.connections.testConnection({ type: "sqlite", configuration: { path: `${env("MS_FIXTURES")}/missing.db` } }),
        Polytomic.BadRequestError,
        400,
    );
});

// Other test files run in parallel on the same organization: "created nothing" is checked by
// name, not by counting.
test("bad input raises typed errors and creates nothing", async () => {
    await rejectsWith(
        client.connections.create({ name: "SDK Bad", type: "sqlite", configuration: { path: DB, bogus: 1 } }),
        Polytomic.BadRequestError,
        400,
        "invalid_request",
    );
    await rejectsWith(
        client.connections.create({ name: "SDK Bad", type: "sqlite", configuration: { path: "relative.db" } }),
        Polytomic.BadRequestError,
        400,
    );
    await assert.rejects(client.connections.create({ name: "SDK Bad", type: "oracle", configuration: {} }), (err) => {
        assert.ok(err instanceof Polytomic.UnprocessableEntityError, `got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.statusCode, 422);
        return true;
    });
    assert.ok(!(await client.connections.list()).data.some((x) => x.name === "SDK Bad"), "no 'SDK Bad' connection");
});

test("secrets are redacted", async () => {
    const c = (
        await client.connections.create({
            name: "SDK Hook",
            type: "webhook",
            configuration: { url: "http://127.0.0.1:9/hook", secret: "sdk-secret-value" },
        })
    ).data;
    assert.equal(c.configuration.secret, "********");
    const got = (await client.connections.get(c.id)).data;
    assert.equal(got.configuration.secret, "********");
    assert.equal(got.configuration.url, "http://127.0.0.1:9/hook");
    assert.ok(!JSON.stringify(got).includes("sdk-secret-value"));
    await client.connections.remove(c.id);
});

test("removing a connection in use needs force", async () => {
    const c = (await client.connections.create({ name: "SDK In Use", type: "sqlite", configuration: { path: DB } })).data;
    const m = (
        await client.models.create({ body: { name: "SDK In Use Users", connection_id: c.id, configuration: { table: "users" } } })
    ).data;
    await rejectsWith(client.connections.remove(c.id), Polytomic.UnprocessableEntityError, 422, "connection_in_use");
    assert.equal((await client.models.get(m.id)).data.id, m.id);
    assert.equal(await client.connections.remove(c.id, { force: true }), undefined);
    await rejectsWith(client.connections.get(c.id), Polytomic.NotFoundError, 404);
    await rejectsWith(client.models.get(m.id), Polytomic.NotFoundError, 404);
});
