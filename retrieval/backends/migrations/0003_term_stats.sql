-- How many chunks hold each lexeme (title or body), kept up to date by every swap. BM25's idf and
-- answering's term weights then cost one lookup per query word instead of counting matches
-- (32 ms a question on SQuAD's 3,353 passages; far more at millions).
CREATE TABLE term_stats (lexeme text PRIMARY KEY, df integer NOT NULL);
INSERT INTO term_stats (lexeme, df)
SELECT lexeme, count(*) FROM chunks, unnest(tsvector_to_array(title_tsv || body_tsv)) AS lexeme GROUP BY lexeme;
