-- Where an article was published and when, as its web page, PDF or Word file said (nullable).
ALTER TABLE articles ADD COLUMN date text, ADD COLUMN url text;
