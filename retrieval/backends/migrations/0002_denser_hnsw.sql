-- A denser HNSW graph. With m 16 / ef_construction 64, recall@10 on 1 M clustered vectors was
-- 0.889 at ef_search 100 and 0.966 at 200 (14.7 ms p50); bench/backends.py, 2026-11-30.
-- m 32 / ef_construction 80 is the graph the FAISS backend builds, which reached 1.000.
DROP INDEX chunk_embeddings_hnsw;
CREATE INDEX chunk_embeddings_hnsw ON chunk_embeddings USING hnsw (embedding halfvec_ip_ops) WITH (m = 32, ef_construction = 80);
