-- 0004-sync-documents: each sync keeps its two API documents as compact JSON text, rendered by
-- the store from the row in the same transaction as every write of the row (insert, update,
-- set_active), so GET /api/syncs/{id} and GET /api/syncs send stored bytes instead of parsing
-- the configuration and serializing a response per request (docs/performance.md, H1 and H2).
--   response:  the SyncResponse, the `data` member of GET /api/syncs/{id}
--   list_item: the ListSyncItem, one element of the `data` array of GET /api/syncs
-- NULL in a row written before this migration: readers render the document from the other
-- columns and store it then.
ALTER TABLE syncs ADD COLUMN response TEXT;
ALTER TABLE syncs ADD COLUMN list_item TEXT;
