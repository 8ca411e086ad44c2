-- The whole first schema. The tsvector columns are declared here on purpose: adding a stored
-- generated column later rewrites the table and rebuilds every index on it.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);

CREATE TABLE articles (
    id text PRIMARY KEY,  -- path relative to the corpus folder; also the key to shard on
    title text NOT NULL,
    text text NOT NULL,
    hash text NOT NULL
);

CREATE TABLE chunks (
    rowid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    article_id text NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    ord integer NOT NULL,
    start_offset integer NOT NULL,  -- offsets in articles.text
    end_offset integer NOT NULL,
    sentences jsonb NOT NULL,  -- [[start, end], ...] article offsets
    vector_key text NOT NULL,  -- vector_cache keys of the chunk and of each sentence
    sentence_keys text[] NOT NULL,
    title text NOT NULL,
    body text NOT NULL,
    title_len integer NOT NULL,  -- words, for BM25's length normalisation
    body_len integer NOT NULL,
    title_tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', title)) STORED,
    body_tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED
);
CREATE INDEX chunks_by_article ON chunks (article_id);
CREATE INDEX chunks_by_vector_key ON chunks (vector_key);
CREATE INDEX chunks_by_sentence_key ON chunks USING gin (sentence_keys);
CREATE INDEX chunks_title_fts ON chunks USING gin (title_tsv);
CREATE INDEX chunks_body_fts ON chunks USING gin (body_tsv);

-- Apart from chunks: 384 floats beside the chunk text would pass the 2 kB in-row limit, and
-- halfvec halves the HNSW index (answers rescore candidates with the exact float32 vectors).
CREATE TABLE chunk_embeddings (
    chunk_rowid bigint PRIMARY KEY REFERENCES chunks (rowid) ON DELETE CASCADE,
    embedding halfvec(384) NOT NULL
);
CREATE INDEX chunk_embeddings_hnsw ON chunk_embeddings USING hnsw (embedding halfvec_ip_ops) WITH (m = 16, ef_construction = 64);

-- Every text ever embedded, by sha256(model + text): unchanged text is never embedded twice.
CREATE TABLE vector_cache (key text PRIMARY KEY, vec vector NOT NULL);
