-- 0006-sync-docs-index: a page of GET /api/syncs reads only this index: syncs_list's keyset
-- order, the filter columns and the stored item of migration 0004, so a page is one index range
-- and no table lookups (about a fifth of the CPU of a page of 50; docs/performance.md, H2).
-- sync_list, which returns whole rows, keeps to syncs_list; each query names its index.
CREATE INDEX syncs_docs ON syncs (organization_id, updated_at DESC, id DESC, active, mode,
                                  target_connection_id, list_item);
