-- Where an article was published and when, and where each page of a PDF starts (JSON), as its web
-- page, PDF or Word file said; all nullable.
ALTER TABLE articles ADD COLUMN date text, ADD COLUMN url text, ADD COLUMN pages text;
