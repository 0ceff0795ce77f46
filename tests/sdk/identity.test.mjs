// identity.test.mjs: official npm client polytomic 1.18.1 (pinned in package.json) against
// modelsync: the installed client is that exact version, identity.get decodes for a user key and
// for an organization key sent as the Bearer token, the version option is accepted, and a bad
// token comes back as the SDK's typed UnauthorizedError with statusCode 401.
// Environment (set by run.sh): MS_BASE, MS_API_KEY, MS_ORG_KEY, MS_ORG_ID, MS_USER_ID.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { PolytomicClient, Polytomic, PolytomicError } from "polytomic";

const SDK_VERSION = "1.18.1";
const env = (k) => {
    const v = process.env[k];
    assert.ok(v, `${k} must be set (run tests/sdk/run.sh)`);
    return v;
};
const client = (token, extra = {}) => new PolytomicClient({ environment: env("MS_BASE"), token, ...extra });

test(`the installed client is polytomic ${SDK_VERSION}`, () => {
    const pkg = JSON.parse(readFileSync(new URL("./node_modules/polytomic/package.json", import.meta.url), "utf8"));
    assert.equal(pkg.name, "polytomic");
    assert.equal(pkg.version, SDK_VERSION);
});

test("identity.get with a user key", async () => {
    const res = await client(env("MS_API_KEY")).identity.get();
    assert.equal(res.data.is_user, true);
    assert.equal(res.data.is_organization, false);
    assert.equal(res.data.is_partner, false);
    assert.equal(res.data.is_system, false);
    assert.equal(res.data.id, env("MS_USER_ID"));
    assert.equal(res.data.email, "sdk@example.com");
    assert.equal(res.data.organization_id, env("MS_ORG_ID"));
    assert.equal(res.data.organization_name, "SDK Org");
});

test("identity.get with the organization key as the token", async () => {
    const res = await client(env("MS_ORG_KEY")).identity.get();
    assert.equal(res.data.is_organization, true);
    assert.equal(res.data.is_user, false);
    assert.equal(res.data.id, undefined);
    assert.equal(res.data.email, undefined);
    assert.equal(res.data.organization_id, env("MS_ORG_ID"));
});

test("the version option is sent and served", async () => {
    for (const version of ["2025-09-18", "2024-02-08", "test"]) {
        const res = await client(env("MS_API_KEY"), { version }).identity.get();
        assert.equal(res.data.id, env("MS_USER_ID"), `version ${version}`);
    }
});

test("a bad token raises UnauthorizedError 401", async () => {
    await assert.rejects(client("not-a-valid-key").identity.get(), (err) => {
        assert.ok(err instanceof Polytomic.UnauthorizedError, `got ${err?.constructor?.name}: ${err?.message}`);
        assert.ok(err instanceof PolytomicError);
        assert.equal(err.statusCode, 401);
        assert.equal(err.body?.key, "unauthorized");
        return true;
    });
});

test("connections.list with a bad token raises UnauthorizedError 401", async () => {
    await assert.rejects(client("not-a-valid-key").connections.list(), (err) => {
        assert.ok(err instanceof Polytomic.UnauthorizedError, `got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.statusCode, 401);
        return true;
    });
});
