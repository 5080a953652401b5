-- The ledger's payload is stored uncompressed (issue 18 item 5; docs/DESIGN.md, "Ledger payload
-- storage"): measured by bench.worker_db, compressing it (pglz, the default) cost the worker a
-- third of its rate per connection for a third of the bytes. EXTERNAL keeps a large payload
-- out of line in TOAST, uncompressed; a small one stays in the row. Rows stored before keep
-- their compression until rewritten. To compress again (lz4 where the server has it, e.g.
-- RDS): ALTER TABLE webhook_deliveries ALTER COLUMN payload SET STORAGE EXTENDED,
--                                       ALTER COLUMN payload SET COMPRESSION lz4;
-- depends: app_0006_reconcile_parked

ALTER TABLE webhook_deliveries ALTER COLUMN payload SET STORAGE EXTERNAL;
