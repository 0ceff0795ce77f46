-- upsert.sql: the hand-written SQL peer of the sync benchmarks S2 and S3 (BENCHMARKS.md): make
-- the table :dst equal to the source rows arriving on psql's standard input as COPY text, in one
-- transaction, writing only what differs. Used as
--   psql -c "\copy (SELECT * FROM src) to stdout" | psql -v dst=TABLE -f bench/peers/upsert.sql
-- (source and target reached over separate connections, as with two databases).
\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE stage (LIKE :"dst") ON COMMIT DROP;
\copy stage from pstdin
INSERT INTO :"dst" AS d SELECT * FROM stage
ON CONFLICT (f0) DO UPDATE SET
    f1 = EXCLUDED.f1, f2 = EXCLUDED.f2, f3 = EXCLUDED.f3, f4 = EXCLUDED.f4, f5 = EXCLUDED.f5,
    f6 = EXCLUDED.f6, f7 = EXCLUDED.f7, f8 = EXCLUDED.f8, f9 = EXCLUDED.f9, f10 = EXCLUDED.f10,
    f11 = EXCLUDED.f11, f12 = EXCLUDED.f12, f13 = EXCLUDED.f13, f14 = EXCLUDED.f14,
    f15 = EXCLUDED.f15
WHERE (d.*) IS DISTINCT FROM (EXCLUDED.*);
DELETE FROM :"dst" d WHERE NOT EXISTS (SELECT 1 FROM stage s WHERE s.f0 = d.f0);
COMMIT;
